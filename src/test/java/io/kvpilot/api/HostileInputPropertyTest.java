package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.AppenderBase;
import io.kvpilot.KvPilotApplication;
import io.kvpilot.serving.Scheduler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.slf4j.LoggerFactory;
import org.springframework.boot.SpringApplication;
import org.springframework.context.ConfigurableApplicationContext;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Hostile request bodies, generated (jqwik), against the real service over HTTP (on the fake engine, so that
 * thousands of requests take seconds): wrong types, huge, negative, zero and subnormal numbers, NaN-like strings,
 * unicode, deep nesting, missing, extra and oversize fields, broken JSON. Each answer is a 200 or a 4xx in OpenAI's
 * error shape, never a 5xx nor a hang, and no log line ever holds the request's content (a unique marker in every
 * string the request carries). 3 x 400 requests per run.
 */
class HostileInputPropertyTest {

    private static final int TRIES = 400;
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(15);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Queue<String> LOG = new ConcurrentLinkedQueue<>();
    private static final AppenderBase<ILoggingEvent> CAPTURE = new AppenderBase<>() {
        @Override
        protected void append(ILoggingEvent event) {
            LOG.add(event.getFormattedMessage() + (event.getThrowableProxy() == null ? ""
                    : ThrowableProxyUtil.asString(event.getThrowableProxy())));
        }
    };

    private static ConfigurableApplicationContext context;
    private static int port;
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeContainer
    static void start() {
        context = new SpringApplication(KvPilotApplication.class, FakeEngineConfiguration.class).run(
                "--server.port=0", "--spring.main.banner-mode=off", "--kvpilot.kv.budget-bytes=1000000",
                "--kvpilot.scheduler.idle-poll=2ms", "--kvpilot.scheduler.default-max-tokens=4",
                "--resilience4j.ratelimiter.configs.per-client.limit-for-period=1000000");
        port = Integer.parseInt(context.getEnvironment().getProperty("local.server.port"));
        TestWaits.until(context.getBean(Scheduler.class)::isReady);
        CAPTURE.start();
        ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).addAppender(CAPTURE);
    }

    @AfterContainer
    static void stop() {
        ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).detachAppender(CAPTURE);
        if (context != null) {
            context.close();
        }
    }

    @Property(tries = TRIES)
    void completions(@ForAll("completionBodies") String body) {
        check("/v1/completions", body);
    }

    @Property(tries = TRIES)
    void chatCompletions(@ForAll("chatBodies") String body) {
        check("/v1/chat/completions", body);
    }

    @Property(tries = TRIES)
    void tokenize(@ForAll("tokenizeBodies") String body) {
        check("/tokenize", body);
    }

    /** A 200 (a whole answer or a stream that ends with [DONE]) or a 4xx in OpenAI's shape; the log never has it. */
    private static void check(String path, String body) {
        String marker = markerOf(body);
        HttpResponse<String> response;
        try {
            response = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .timeout(REQUEST_TIMEOUT).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new AssertionError("no answer (" + e + ") to " + abbreviated(body), e);
        }
        int status = response.statusCode();
        // the run's report shows the mix, so a generator that stops reaching the engine is seen
        net.jqwik.api.statistics.Statistics.collect(status);
        assertThat(status).as("status for %s: %s", abbreviated(body), response.body()).isIn(200, 400, 404, 413, 415);
        String type = response.headers().firstValue("Content-Type").orElse("");
        if (status == 200 && type.startsWith("text/event-stream")) {
            List<String> data = response.body().lines().filter(l -> l.startsWith("data: ")).toList();
            assertThat(data).as(body).isNotEmpty();
            assertThat(data.get(data.size() - 1)).isEqualTo("data: [DONE]");
            for (String line : data.subList(0, data.size() - 1)) {
                JsonNode error = JSON.readTree(line.substring(6)).get("error");
                assertThat(error == null || "invalid_request_error".equals(error.get("type").asString()))
                        .as("stream event %s", line).isTrue();
            }
        } else if (status == 200) {
            assertThat(JSON.readTree(response.body()).isObject()).isTrue();
        } else {
            assertThat(type).startsWith("application/json");
            JsonNode error = JSON.readTree(response.body()).get("error");
            assertThat(error).as(response.body()).isNotNull();
            assertThat(error.get("message").isString()).isTrue();
            assertThat(error.get("type").isString()).isTrue();
            assertThat(error.has("param") && error.has("code")).as(response.body()).isTrue();
        }
        if (marker != null) {
            assertThat(LOG).as("log lines holding the request's content").noneMatch(line -> line.contains(marker));
        }
    }

    private static String markerOf(String body) {
        int at = body.indexOf("MARK");
        return at < 0 || at + 12 > body.length() ? null : body.substring(at, at + 12);
    }

    private static String abbreviated(String body) {
        return body.length() <= 300 ? body : body.substring(0, 300) + "... (" + body.length() + " chars)";
    }

    // ---- generators --------------------------------------------------------------------------------------------

    @Provide
    Arbitrary<String> completionBodies() {
        return bodies(Map.of("prompt", Arbitraries.oneOf(markedText().map(HostileInputPropertyTest::quoted),
                tokenIds(), anyJson())));
    }

    @Provide
    Arbitrary<String> chatBodies() {
        return bodies(Map.of("messages", Arbitraries.oneOf(messages(), anyJson())));
    }

    @Provide
    Arbitrary<String> tokenizeBodies() {
        return Arbitraries.oneOf(bodyOf(Map.of(
                "prompt", Arbitraries.oneOf(markedText().map(HostileInputPropertyTest::quoted), anyJson()),
                "add_special_tokens", Arbitraries.oneOf(Arbitraries.of("true", "false"), anyJson()))),
                bodyOf(Map.of("messages", Arbitraries.oneOf(messages(), anyJson()))), brokenBodies());
    }

    /** Completion-style bodies: the main field, sampling fields sane or hostile, extras; or not JSON at all. */
    private Arbitrary<String> bodies(Map<String, Arbitrary<String>> main) {
        Map<String, Arbitrary<String>> fields = new LinkedHashMap<>(main);
        fields.put("max_tokens", Arbitraries.oneOf(Arbitraries.integers().between(1, 4).map(String::valueOf),
                anyNumber(), anyJson()));
        fields.put("max_completion_tokens", Arbitraries.oneOf(Arbitraries.integers().between(1, 4)
                .map(String::valueOf), anyNumber()));
        fields.put("temperature", Arbitraries.oneOf(Arbitraries.doubles().between(0, 2).map(String::valueOf),
                anyNumber(), anyJson()));
        fields.put("top_p", Arbitraries.oneOf(Arbitraries.doubles().between(0.01, 1).map(String::valueOf),
                anyNumber()));
        fields.put("top_k", Arbitraries.oneOf(Arbitraries.integers().between(-1, 50).map(String::valueOf),
                anyNumber()));
        fields.put("seed", anyNumber());
        fields.put("stop", Arbitraries.oneOf(markedText().map(HostileInputPropertyTest::quoted),
                markedText().map(HostileInputPropertyTest::quoted).list().ofMaxSize(6).map(HostileInputPropertyTest::array),
                anyJson()));
        fields.put("stream", Arbitraries.oneOf(Arbitraries.of("true", "false"), anyJson()));
        fields.put("stream_options", Arbitraries.oneOf(Arbitraries.of("{\"include_usage\": true}"), anyJson()));
        fields.put("n", anyNumber());
        fields.put("logprobs", anyJson());
        fields.put("tools", anyJson());
        fields.put("tool_choice", Arbitraries.oneOf(Arbitraries.of("\"none\"", "\"auto\"", "\"required\""),
                anyJson()));
        fields.put("response_format", Arbitraries.oneOf(Arbitraries.of("{\"type\": \"text\"}",
                "{\"type\": \"json_object\"}"), anyJson()));
        fields.put("kv_compression", Arbitraries.oneOf(Arbitraries.of("\"auto\"", "\"off\"",
                "{\"method\": \"snapkv\", \"ratio\": 0.5}", "{\"method\": \"kivi\", \"bits\": 4}",
                "{\"method\": \"streaming_llm\", \"ratio\": 0.999999}"), anyJson()));
        fields.put("model", Arbitraries.oneOf(Arbitraries.of("\"fake-model\""),
                markedText().map(HostileInputPropertyTest::quoted), anyJson()));
        fields.put("ignore_eos", anyJson());
        fields.put("user", markedText().map(HostileInputPropertyTest::quoted));
        fields.put("x_" + "extra", anyJson());
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(9, bodyOf(fields)),
                net.jqwik.api.Tuple.of(1, brokenBodies()));
    }

    /** An object with the first field usually present and each other field present or not. */
    private static Arbitrary<String> bodyOf(Map<String, Arbitrary<String>> fields) {
        List<Arbitrary<String>> members = new ArrayList<>();
        boolean first = true;
        for (Map.Entry<String, Arbitrary<String>> field : fields.entrySet()) {
            Arbitrary<String> member = field.getValue().map(v -> quoted(field.getKey()) + ": " + v);
            members.add(first ? member.injectNull(0.05) : member.injectNull(0.7));
            first = false;
        }
        return Combinators.combine(members).as(list -> "{" + String.join(", ",
                list.stream().filter(m -> m != null).toList()) + "}");
    }

    private static Arbitrary<String> brokenBodies() {
        return Arbitraries.oneOf(
                Arbitraries.of("", " ", "null", "[]", "\"prompt\"", "42", "{", "{\"prompt\": }", "{\"prompt\": \"x\"",
                        "{\"prompt\": \"x\"} trailing", "{\"prompt\": NaN}", "{\"prompt\": \"x\", \"max_tokens\": NaN}",
                        "{\"prompt\": \"x\", \"temperature\": Infinity}", "{'prompt': 'x'}", "\u0000",
                        "{\"prompt\": \"\\ud800\"}", "{\"prompt\": \"x\", \"prompt\": 5}"),
                Arbitraries.integers().between(1, 3000).map(depth -> "[".repeat(depth) + "]".repeat(depth)),
                Arbitraries.integers().between(1, 3000).map(depth ->
                        "{\"prompt\": \"x\", \"stop\": " + "{\"a\":".repeat(depth) + "1" + "}".repeat(depth) + "}"),
                Arbitraries.strings().ofMaxLength(200));
    }

    private static Arbitrary<String> messages() {
        Arbitrary<String> role = Arbitraries.oneOf(Arbitraries.of("\"user\"", "\"system\"", "\"assistant\"",
                "\"developer\"", "\"tool\""), anyJson());
        Arbitrary<String> content = Arbitraries.oneOf(markedText().map(HostileInputPropertyTest::quoted),
                markedText().map(t -> "[{\"type\": \"text\", \"text\": " + quoted(t) + "}]"), anyJson());
        Arbitrary<String> message = Combinators.combine(role.injectNull(0.1), content.injectNull(0.1))
                .as((r, c) -> "{" + (r == null ? "" : "\"role\": " + r) + (r != null && c != null ? ", " : "")
                        + (c == null ? "" : "\"content\": " + c) + "}");
        return Arbitraries.oneOf(message, anyJson()).list().ofMaxSize(5).map(HostileInputPropertyTest::array);
    }

    /** Text with a unique marker inside: unicode, control characters, template-like and NaN-like strings. */
    private static Arbitrary<String> markedText() {
        Arbitrary<String> noise = Arbitraries.oneOf(
                Arbitraries.strings().ofMaxLength(30),
                Arbitraries.strings().all().ofMaxLength(30),
                Arbitraries.of("NaN", "-Infinity", "1e-320", "\u202eevil", "\ud83d\ude00", "{{ 7*7 }}", "\u0000",
                        "</s>", "<|im_end|>", "\n\n\n", ""),
                Arbitraries.integers().between(1000, 70000).map(n -> "z".repeat(n)));
        return Combinators.combine(noise, noise).as((a, b) -> a + "MARK" + UUID.randomUUID().toString()
                .substring(0, 8) + b);
    }

    private static Arbitrary<String> tokenIds() {
        return Arbitraries.oneOf(
                Arbitraries.integers().between(0, 127).list().ofMinSize(1).ofMaxSize(20),
                Arbitraries.integers().list().ofMaxSize(5))
                .map(ids -> ids.stream().map(String::valueOf).toList()).map(HostileInputPropertyTest::array);
    }

    private static Arbitrary<String> anyNumber() {
        return Arbitraries.oneOf(
                Arbitraries.of("0", "-0", "-1", "1e-320", "4.9e-324", "-1e-320", "1e308", "1e400", "-1e400", "2.5",
                        "99999999999999999999999999", "-99999999999999999999999999", "9223372036854775808",
                        "2147483648", "0.0000001", "1E+2", "-2147483649"),
                Arbitraries.integers().map(String::valueOf),
                Arbitraries.longs().map(String::valueOf),
                Arbitraries.doubles().map(String::valueOf));
    }

    /** Any JSON value, nested a few levels. */
    private static Arbitrary<String> anyJson() {
        return Arbitraries.lazyOf(
                () -> Arbitraries.of("null", "true", "false", "\"\"", "\"NaN\"", "\"Infinity\"", "\"-1\"", "{}", "[]",
                        "\"text\"", "\"auto\"", "\"none\""),
                HostileInputPropertyTest::anyNumber,
                () -> markedText().map(HostileInputPropertyTest::quoted),
                () -> anyJson().list().ofMaxSize(3).map(HostileInputPropertyTest::array),
                () -> Combinators.combine(Arbitraries.of("type", "text", "method", "role", "x"), anyJson())
                        .as((k, v) -> "{" + quoted(k) + ": " + v + "}"));
    }

    private static String array(List<String> items) {
        return "[" + String.join(", ", items) + "]";
    }

    private static String quoted(String text) {
        return JSON.writeValueAsString(text);
    }
}
