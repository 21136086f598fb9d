package io.kvpilot.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The alerting rules as Prometheus's own {@code promtool} sees them: they load ({@code check rules}), and the unit
 * tests in {@code alerts/kvpilot-rules.test.yaml} show each alert firing on a synthetic faulty series while a healthy
 * series evaluated beside it stays quiet ({@code test rules}). {@code bash .ci/run} installs promtool (Debian package
 * {@code prometheus}); without it these tests fail.
 */
class AlertRulesTest {

    private static final Path PROMTOOL = Path.of(System.getenv().getOrDefault("PROMTOOL_BIN", "/usr/bin/promtool"));

    @Test
    void rulesLoad() throws Exception {
        Result result = promtool("check", "rules", "alerts/kvpilot-rules.yaml");
        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("SUCCESS");
    }

    @Test
    void eachAlertFiresOnAFaultAndStaysQuietWhenHealthy() throws Exception {
        Result result = promtool("test", "rules", "alerts/kvpilot-rules.test.yaml");
        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("SUCCESS");
    }

    @Test
    void everyAlertHasAUnitTest() throws IOException {
        String rules = Files.readString(Path.of("alerts/kvpilot-rules.yaml"));
        String tests = Files.readString(Path.of("alerts/kvpilot-rules.test.yaml"));
        List<String> alerts = rules.lines().map(String::trim).filter(l -> l.startsWith("- alert: "))
                .map(l -> l.substring("- alert: ".length())).toList();
        assertThat(alerts).hasSizeGreaterThanOrEqualTo(10);
        for (String alert : alerts) {
            assertThat(tests).as("a promtool test for %s", alert).contains("alertname: " + alert + "\n");
        }
    }

    private record Result(int exitCode, String output) {}

    private static Result promtool(String... args) throws IOException, InterruptedException {
        assertThat(PROMTOOL).as("promtool (Debian package prometheus; bash .ci/run installs it)").isExecutable();
        List<String> command = new ArrayList<>(List.of(PROMTOOL.toString()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("promtool finished").isTrue();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(process.exitValue(), output);
    }
}
