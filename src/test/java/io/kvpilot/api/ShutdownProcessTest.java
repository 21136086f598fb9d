package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The service as its own process, with streams in flight: kill -9 leaves every client with a response or a
 * connection error (none hangs) and a restarted process is ready again; SIGTERM makes readiness DOWN at once, lets
 * short requests finish, ends every long stream with a final error event and {@code [DONE]} once the drain grace has
 * passed, answers a long non-streaming request with a 503, and the process exits within the grace plus a few seconds.
 */
class ShutdownProcessTest {

    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final HttpClient http = HttpClient.newHttpClient();

    private static ServiceProcess start() throws Exception {
        // 20 ms per engine step: a 200-token stream takes 4 s, far longer than the 1 s drain grace
        return ServiceProcess.start(FakeEngineServer.class.getName(), Map.of(), List.of("-Dfake.step-millis=20"),
                "--kvpilot.scheduler.drain-grace=1s", "--kvpilot.scheduler.idle-poll=5ms",
                "--kvpilot.scheduler.max-running-sequences=8", "--kvpilot.kv.budget-bytes=10000000")
                .awaitReady(Duration.ofSeconds(60));
    }

    /** A stream whose lines are collected as they come; {@code firstData} completes on its first data line. */
    private record Stream(CompletableFuture<HttpResponse<Void>> response, List<String> lines,
            CompletableFuture<Void> firstData) {}

    private Stream stream(ServiceProcess service, int maxTokens) {
        List<String> lines = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> firstData = new CompletableFuture<>();
        CompletableFuture<HttpResponse<Void>> response = http.sendAsync(post(service, "/v1/completions",
                "{\"prompt\": \"stream\", \"max_tokens\": " + maxTokens + ", \"stream\": true}"),
                HttpResponse.BodyHandlers.ofLines()).thenApply(r -> {
                    r.body().filter(line -> !line.isEmpty()).forEach(line -> {
                        lines.add(line);
                        if (line.startsWith("data: ")) {
                            firstData.complete(null);
                        }
                    });
                    return null;
                });
        response.whenComplete((r, e) -> firstData.complete(null));
        return new Stream(response, lines, firstData);
    }

    private static HttpRequest post(ServiceProcess service, String path, String body) {
        return HttpRequest.newBuilder(service.uri(path)).timeout(REQUEST_TIMEOUT)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static JsonNode data(String line) {
        assertThat(line).startsWith("data: ");
        return JSON.readTree(line.substring(6));
    }

    @Test
    void killThenRestartThenSigtermWithStreamsInFlight() throws Exception {
        try (ServiceProcess first = start()) {
            List<Stream> streams = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                streams.add(stream(first, 200));
            }
            CompletableFuture<HttpResponse<String>> whole = http.sendAsync(post(first, "/v1/completions",
                    "{\"prompt\": \"whole\", \"max_tokens\": 200}"), HttpResponse.BodyHandlers.ofString());
            for (Stream s : streams) {
                s.firstData.get(20, TimeUnit.SECONDS);
            }

            first.process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);

            // every admitted request ends, with its response or a connection error; none is left hanging
            List<CompletableFuture<?>> calls = new ArrayList<>(streams.stream().map(Stream::response).toList());
            calls.add(whole);
            for (CompletableFuture<?> call : calls) {
                try {
                    call.get(REQUEST_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable cause = e.getCause() instanceof java.io.UncheckedIOException u ? u.getCause()
                            : e.getCause();
                    assertThat(cause).isInstanceOf(IOException.class).isNotInstanceOf(HttpTimeoutException.class);
                }
            }
        }

        try (ServiceProcess second = start()) {
            List<Stream> longStreams = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                longStreams.add(stream(second, 200));
            }
            Stream shortStream = stream(second, 10);
            CompletableFuture<HttpResponse<String>> whole = http.sendAsync(post(second, "/v1/completions",
                    "{\"prompt\": \"whole\", \"max_tokens\": 200}"), HttpResponse.BodyHandlers.ofString());
            for (Stream s : longStreams) {
                s.firstData.get(20, TimeUnit.SECONDS);
            }
            shortStream.firstData.get(20, TimeUnit.SECONDS);

            long sigterm = System.nanoTime();
            second.process.destroy(); // SIGTERM

            int readiness = 0;
            long until = System.nanoTime() + Duration.ofSeconds(1).toNanos();
            while (readiness != 503 && System.nanoTime() < until) {
                readiness = http.send(HttpRequest.newBuilder(second.uri("/actuator/health/readiness")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode();
            }
            assertThat(readiness).as("readiness while draining").isEqualTo(503);

            assertThat(second.process.waitFor(15, TimeUnit.SECONDS)).as(second.output()).isTrue();
            Duration exit = Duration.ofNanos(System.nanoTime() - sigterm);
            // the JVM's status for a SIGTERM it handled with its shutdown hooks
            assertThat(second.process.exitValue()).as(second.output()).isEqualTo(143);
            assertThat(exit).isLessThan(Duration.ofSeconds(12));

            for (Stream s : longStreams) {
                s.response.join();
                List<String> data = s.lines.stream().filter(l -> l.startsWith("data: ")).toList();
                assertThat(data.get(data.size() - 1)).isEqualTo("data: [DONE]");
                assertThat(data(data.get(data.size() - 2)).get("error").get("code").stringValue())
                        .isEqualTo("shutting_down");
            }
            shortStream.response.join();
            List<String> data = shortStream.lines.stream().filter(l -> l.startsWith("data: ")).toList();
            assertThat(data.get(data.size() - 1)).isEqualTo("data: [DONE]");
            assertThat(data(data.get(data.size() - 2)).get("choices").get(0).get("finish_reason").stringValue())
                    .isEqualTo("length");

            HttpResponse<String> answered = whole.join();
            assertThat(answered.statusCode()).isEqualTo(503);
            assertThat(JSON.readTree(answered.body()).get("error").get("code").stringValue())
                    .isEqualTo("shutting_down");
            assertThat(answered.headers().firstValue("Retry-After")).isPresent();
        } catch (CompletionException e) {
            throw new AssertionError("a request lost its connection during a graceful shutdown", e);
        }
    }
}
