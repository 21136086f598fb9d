package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.kvpilot.serving.Scheduler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The official OpenAI Node SDK, in TypeScript, against the real service and model: {@code clients/node} is compiled
 * with {@code tsc} under {@code strict} (so {@code kv_compression} in the params and {@code usage.kv_cache} in the
 * answers must type-check) and its example run with node — the example docs/clients.md shows. Without node on the
 * PATH the test is skipped with a message, except under {@code CI=true}, where it fails: CI must run it.
 */
@RealModelServingTest
class NodeSdkTest {

    private static final Path PACKAGE = Path.of("clients", "node");
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @BeforeEach
    void nodeAndModel() throws Exception {
        String version = null;
        try {
            version = run(List.of("node", "--version"), Map.of(), 30).strip();
        } catch (IOException e) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail("node is not on the PATH, and CI=true: CI must run the Node SDK test (.ci/run installs node)");
            }
        }
        Assumptions.assumeTrue(version != null, "node is not on the PATH: the OpenAI Node SDK test is skipped "
                + "(install Node.js 20+ and npm to run it; .ci/run does)");
        if (!Files.isDirectory(PACKAGE.resolve("node_modules"))) {
            // .ci/run installs them beforehand from npm's cache where it can; a fresh checkout gets them here
            run(List.of("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"), Map.of(), 600);
        }
        TestWaits.until(scheduler::isReady);
    }

    @Test
    void theTypeScriptExampleCompilesStrictlyAndReadsKvCacheBack() throws Exception {
        run(List.of("npm", "run", "--silent", "build"), Map.of(), 600); // tsc: a type error fails here

        String out = run(List.of("node", "dist/example.js"), Map.of("KVPILOT_BASE_URL",
                "http://localhost:" + port + "/v1", "KVPILOT_API_KEY", "test-key"), 300);

        String[] lines = out.strip().split("\n");
        JsonNode seen = JSON.readTree(lines[lines.length - 1]);
        assertThat(seen.get("model").stringValue()).isEqualTo(scheduler.engine().modelInfo().id());
        assertThat(seen.get("system_fingerprint").stringValue()).matches("fp_[0-9a-f]{12}");
        JsonNode chat = seen.get("chat_kv_cache");
        assertThat(chat.get("method").stringValue()).isEqualTo("keydiff");
        assertThat(chat.get("bits").intValue()).isEqualTo(8);
        assertThat(chat.get("decided_by").stringValue()).isEqualTo("request");
        assertThat(chat.get("bytes").longValue()).isPositive().isLessThan(chat.get("bytes_uncompressed").longValue());
        assertThat(seen.get("stream_kv_cache").get("method").stringValue()).isEqualTo("none");
        assertThat(seen.get("streamed_text").stringValue()).isNotEmpty();
        assertThat(seen.get("completion_choices")).hasSize(2);
        assertThat(seen.get("completion_kv_cache").get("method").stringValue()).isEqualTo("snapkv");
    }

    /** Runs {@code command} in the package's directory; its stdout, or a failure with its output. */
    private static String run(List<String> command, Map<String, String> env, long timeoutSeconds)
            throws IOException, InterruptedException {
        Path stdout = Files.createTempFile("kvpilot-node", ".out");
        Path stderr = Files.createTempFile("kvpilot-node", ".err");
        try {
            ProcessBuilder builder = new ProcessBuilder(command).directory(PACKAGE.toFile())
                    .redirectOutput(stdout.toFile()).redirectError(stderr.toFile());
            builder.environment().putAll(env);
            Process process = builder.start();
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                fail(String.join(" ", command) + " ran past " + timeoutSeconds + " s:\n" + Files.readString(stderr));
            }
            String out = Files.readString(stdout, StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                fail(String.join(" ", command) + " exited " + process.exitValue() + ":\n" + out + "\n"
                        + Files.readString(stderr));
            }
            return out;
        } finally {
            Files.deleteIfExists(stdout);
            Files.deleteIfExists(stderr);
        }
    }
}
