package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A real Prometheus server (the {@code prometheus} binary; {@code bash .ci/run} installs the Debian package) scraping
 * one service every second, answering PromQL through its HTTP API. A missing binary fails the test that needs it.
 */
final class PrometheusServer implements AutoCloseable {

    private final HttpClient http = HttpClient.newHttpClient();
    private final JsonMapper json = JsonMapper.builder().build();
    private final Process process;
    private final Path log;
    private final int port;

    private PrometheusServer(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    static PrometheusServer scraping(int servicePort, Path dir) throws IOException {
        Path binary = Path.of(System.getenv().getOrDefault("PROMETHEUS_BIN", "/usr/bin/prometheus"));
        assertThat(binary).as("prometheus binary (apt-get install -y prometheus, as .ci/run does)").isExecutable();
        int port = freePort();
        Path config = dir.resolve("prometheus.yml");
        Files.writeString(config, """
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: kvpilot
                    metrics_path: /actuator/prometheus
                    static_configs:
                      - targets: ['127.0.0.1:%d']
                """.formatted(servicePort));
        Path log = dir.resolve("prometheus.log");
        Process process = new ProcessBuilder(binary.toString(),
                        "--config.file=" + config,
                        "--storage.tsdb.path=" + dir.resolve("data"),
                        "--web.listen-address=127.0.0.1:" + port)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        return new PrometheusServer(process, log, port);
    }

    /** The {@code data} of an instant query; fails the test when Prometheus answers an error (invalid PromQL). */
    JsonNode query(String promql) throws IOException, InterruptedException {
        JsonNode answer = get("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
        assertThat(answer.path("status").asText()).as("Prometheus on %s: %s", promql, answer).isEqualTo("success");
        return answer.path("data");
    }

    /** Whether Prometheus stores any series of this metric name. */
    boolean hasSeries(String metric) throws IOException, InterruptedException {
        return !query("count({__name__=\"" + metric + "\"})").path("result").isEmpty();
    }

    /** Waits until the query returns a non-NaN sample at least {@code atLeast}; start-up answers count as not yet. */
    void awaitAtLeast(String promql, double atLeast, Duration timeout) throws Exception {
        Instant deadline = Instant.now().plus(timeout);
        String last = "";
        while (Instant.now().isBefore(deadline)) {
            assertThat(process.isAlive()).as("prometheus exited; see %s", log).isTrue();
            try {
                JsonNode result = query(promql).path("result");
                last = result.toString();
                if (!result.isEmpty() && Double.parseDouble(result.get(0).path("value").get(1).asText()) >= atLeast) {
                    return;
                }
            } catch (IOException | tools.jackson.core.JacksonException notServingYet) {
                // refused connections, and the plain-text 503 Prometheus answers while it starts
                last = notServingYet.toString();
            }
            Thread.sleep(250);
        }
        throw new AssertionError("no sample >= " + atLeast + " for " + promql + " within " + timeout + ": " + last);
    }

    /**
     * The first sample of an instant query, waiting until Prometheus has scraped a series that answers it with a
     * number (not NaN); answers while it starts (refused connections, a plain-text 503) count as not yet.
     */
    double firstValue(String promql, Duration timeout) throws Exception {
        Instant deadline = Instant.now().plus(timeout);
        String last = "";
        while (Instant.now().isBefore(deadline)) {
            assertThat(process.isAlive()).as("prometheus exited; see %s", log).isTrue();
            try {
                JsonNode answer = get("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
                last = answer.toString();
                JsonNode result = answer.path("data").path("result");
                if (result.isArray() && !result.isEmpty()) {
                    double value = Double.parseDouble(result.get(0).path("value").get(1).asText());
                    if (!Double.isNaN(value)) {
                        return value;
                    }
                }
            } catch (IOException | tools.jackson.core.JacksonException notServingYet) {
                last = notServingYet.toString();
            }
            Thread.sleep(250);
        }
        throw new AssertionError("no sample for " + promql + " within " + timeout + "; last answer: " + last);
    }

    private JsonNode get(String pathAndQuery) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + pathAndQuery)).build(),
                HttpResponse.BodyHandlers.ofString());
        return json.readTree(response.body());
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
