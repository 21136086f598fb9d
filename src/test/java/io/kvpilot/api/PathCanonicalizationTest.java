package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.kvpilot.serving.Scheduler;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ApplicationContext;
import org.springframework.web.server.WebFilter;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Every route the router knows (read from its own mappings, actuator endpoints included, so a new endpoint is covered
 * without editing this test) × spellings an attacker can send for it (percent-encoding of each character in upper-
 * and lower-case hex and double-encoded, {@code ;params} on each segment, case, trailing slashes, dot segments, empty
 * segments, backslashes) × no key, an API key and an admin key, sent byte for byte over a socket. No spelling but the
 * canonical one may reach a handler; the canonical one reaches it exactly when the key's role allows.
 */
@FakeServingTest
@ExtendWith(OutputCaptureExtension.class)
class PathCanonicalizationTest {

    private static final String USER_KEY = "test-key";
    private static final String ADMIN_KEY = "admin-key";
    private static final List<String> KEYS = Arrays.asList(null, USER_KEY, ADMIN_KEY);
    /** docs/api.md: the only paths open without a key (the KV inspector page's static files hold no data). */
    private static final Set<String> OPEN = Set.of("/actuator/health", "/actuator/health/liveness",
            "/actuator/health/readiness", "/actuator/info", "/actuator/prometheus", "/inspector",
            "/inspector/inspector.js", "/inspector/inspector.css");
    private static final Pattern VARIABLE = Pattern.compile("\\{\\*?\\w+(:[^}]*)?}");
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @Autowired
    ApplicationContext context;

    @Autowired
    Scheduler scheduler;

    @Autowired
    CircuitBreakerRegistry circuitBreakers;

    @LocalServerPort
    int port;

    private RawHttpClient http;

    /** A mapped method and path; variables in the pattern are filled with a sample value. */
    record Route(String method, String pattern, String path) {

        boolean templated() {
            return !pattern.equals(path);
        }

        boolean needsAdmin() {
            return path.startsWith("/admin/") || path.startsWith("/actuator");
        }

        String body() {
            return method.equals("GET") || method.equals("HEAD") ? null : "{}";
        }
    }

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        // health answers 503 while another class on this context has left the breaker open
        circuitBreakers.circuitBreaker("generation").reset();
        http = new RawHttpClient(port);
    }

    private List<Route> routes() {
        Set<Route> routes = new LinkedHashSet<>();
        for (MappedRoutes.Mapping mapping : MappedRoutes.of(context)) {
            String pattern = mapping.pattern().getPatternString();
            routes.add(new Route(mapping.method(), pattern, VARIABLE.matcher(pattern).replaceAll("x")));
        }
        assertThat(routes).extracting(Route::path).contains("/v1/completions", "/v1/chat/completions", "/v1/models",
                "/tokenize", "/detokenize", "/admin/scheduler", "/actuator/prometheus", "/actuator/metrics");
        return new ArrayList<>(routes);
    }

    @Test
    void theKeyFilterRunsBeforeEveryOtherWebFilterButTheRequestId() {
        // WebHttpHandlerBuilder chains the context's WebFilters in this order; only the request-id filter, which
        // answers nothing and only labels the response, may run earlier (so that refusals carry an id too)
        List<WebFilter> filters = context.getBeanProvider(WebFilter.class).orderedStream().toList();
        int keyFilter = filters.indexOf(filters.stream().filter(ApiKeyFilter.class::isInstance).findFirst().orElseThrow());
        assertThat(filters.subList(0, keyFilter)).allMatch(RequestIdFilter.class::isInstance);
    }

    @Test
    void theCanonicalPathReachesItsHandlerExactlyWhenTheKeyAllows() throws IOException {
        List<String> failures = new ArrayList<>();
        for (Route route : routes()) {
            for (String key : KEYS) {
                RawHttpClient.Response response = http.send(route.method(), route.path(), key, route.body());
                String expected = expectedForCanonical(route, key);
                String actual = outcome(route, response);
                if (!expected.equals(actual)) {
                    failures.add(route.method() + " " + route.path() + " key=" + key + ": expected " + expected
                            + ", got " + response.status() + " " + abbreviate(response.body()));
                }
            }
        }
        assertThat(failures).isEmpty();
    }

    @Test
    void noOtherSpellingOfAnyRouteReachesAHandlerWhateverTheKey(CapturedOutput output) throws Exception {
        record Probe(Route route, String variant, String key) {}
        List<Probe> probes = new ArrayList<>();
        for (Route route : routes()) {
            for (String variant : variants(route)) {
                KEYS.forEach(key -> probes.add(new Probe(route, variant, key)));
            }
        }
        List<String> failures = new CopyOnWriteArrayList<>();
        Map<String, Integer> outcomes = new ConcurrentSkipListMap<>();
        ExecutorService clients = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> sent = new ArrayList<>();
            for (Probe p : probes) {
                sent.add(clients.submit(() -> {
                    RawHttpClient.Response response = http.send(p.route().method(), p.variant(), p.key(),
                            p.route().body());
                    outcomes.merge(response.status() + " " + code(response), 1, Integer::sum);
                    String problem = problemWithRefusal(p.variant(), response);
                    if (problem != null) {
                        failures.add(p.route().method() + " " + p.variant() + " key=" + p.key() + ": " + problem);
                    }
                    return null;
                }));
            }
            for (Future<?> f : sent) {
                f.get(30, TimeUnit.SECONDS);
            }
        } finally {
            clients.shutdownNow();
        }
        System.out.println("path variants sent: " + probes.size() + ", outcomes (status code): " + outcomes);
        assertThat(failures).isEmpty();
        assertThat(probes).hasSizeGreaterThan(1000);
        // Refusals by the key filter must dominate: a path normalized before it would come back as 404s.
        assertThat(outcomes.getOrDefault("400 invalid_path", 0)).isGreaterThan(probes.size() * 3 / 4);
        assertThat(output.getAll()).doesNotContain("\tat ").doesNotContain("ERROR");
    }

    @Test
    void theProbesThatFoundTheBypassAreRefused(CapturedOutput output) throws IOException {
        List<String> probes = List.of("/v1;x/completions", "/%76%31/completions", "/tokenize;a", "/admin;x/scheduler",
                "/%61dmin/scheduler", "/%61ctuator/metrics", "/actuator/health/..;/metrics",
                "/actuator/health/../metrics");
        for (String probe : probes) {
            for (String method : List.of("GET", "POST")) {
                RawHttpClient.Response response = http.send(method, probe, null, "{\"prompt\": \"x\"}");

                assertThat(response.status()).as(method + " " + probe).isEqualTo(400);
                assertThat(code(response)).isEqualTo("invalid_path");
            }
        }
        assertThat(output.getAll()).doesNotContain("\tat ");
    }

    @Test
    void unknownActuatorPathsAre404sInTheErrorShapeWithoutAStackTrace(CapturedOutput output) throws IOException {
        for (String path : List.of("/actuator/health/foo", "/actuator/health/foo/bar", "/actuator/health/foo/bar/baz",
                "/actuator/health/readiness/foo/bar", "/actuator/metrics/no.such.metric")) {
            RawHttpClient.Response response = http.send("GET", path, ADMIN_KEY, null);

            assertThat(response.status()).as(path).isEqualTo(404);
            assertThat(code(response)).as(path).isEqualTo("not_found");
        }
        assertThat(output.getAll()).doesNotContain("\tat ").doesNotContain("ERROR");
    }

    @Test
    void unknownPathsAndWrongMethodsCarryTheErrorShapeWithACode() throws IOException {
        RawHttpClient.Response unknown = http.send("GET", "/v1/nothing", USER_KEY, null);
        RawHttpClient.Response wrongMethod = http.send("PUT", "/v1/models", USER_KEY, "{}");

        assertThat(unknown.status()).isEqualTo(404);
        assertThat(code(unknown)).isEqualTo("not_found");
        assertThat(wrongMethod.status()).isEqualTo(405);
        assertThat(code(wrongMethod)).isEqualTo("method_not_allowed");
        assertThat(wrongMethod.headers().get("allow")).contains("GET");
    }

    private static String expectedForCanonical(Route route, String key) {
        if (OPEN.contains(route.path())) {
            return "handler";
        }
        if (key == null) {
            return "401";
        }
        return route.needsAdmin() && !key.equals(ADMIN_KEY) ? "403" : "handler";
    }

    /**
     * "handler" when the route's handler answered: a 2xx, or (for a body-less POST or a sample path variable) the
     * handler's own 4xx, which for a sample variable may be a 404 (no metric "x"); the status otherwise.
     */
    private static String outcome(Route route, RawHttpClient.Response response) {
        int status = response.status();
        String code = code(response);
        if (status >= 200 && status < 300) {
            return "handler";
        }
        boolean refusedBeforeHandler = status == 401 || status == 403 || status >= 500
                || "invalid_path".equals(code) || "method_not_allowed".equals(code)
                || ("not_found".equals(code) && !route.templated());
        boolean handlerMayRefuse = route.templated() || route.body() != null;
        return handlerMayRefuse && !refusedBeforeHandler ? "handler" : Integer.toString(status);
    }

    /** Null when the answer is a refusal: 400, 401, 403 or 404, in the error shape with a code where it has a body. */
    private static String problemWithRefusal(String variant, RawHttpClient.Response response) {
        int status = response.status();
        if (status != 400 && status != 401 && status != 403 && status != 404) {
            return "status " + status + " " + abbreviate(response.body());
        }
        if (response.body().isEmpty()) {
            // Spring refuses a target that is not a URI (a backslash) before any filter, with an empty 400
            return status == 400 && variant.contains("\\") ? null : "empty " + status;
        }
        return code(response) == null ? "no error code: " + abbreviate(response.body()) : null;
    }

    private static String code(RawHttpClient.Response response) {
        if (response.body().isEmpty()) {
            return null;
        }
        try {
            JsonNode code = JSON.readTree(response.body()).path("error").path("code");
            return code.isString() ? code.asString() : null;
        } catch (RuntimeException notJson) {
            return null;
        }
    }

    private static String abbreviate(String body) {
        return body.length() > 200 ? body.substring(0, 200) + "..." : body;
    }

    /** Spellings of {@code path} that are not {@code path}; each has another reading to some parser. */
    static Set<String> variants(Route route) {
        String path = route.path();
        String[] patternSegments = route.pattern().substring(1).split("/");
        Set<String> variants = new TreeSet<>();
        for (int i = 1; i < path.length(); i++) {
            String hex = String.format("%02X", (int) path.charAt(i));
            String before = path.substring(0, i);
            String after = path.substring(i + 1);
            variants.add(before + "%" + hex + after);
            variants.add(before + "%" + hex.toLowerCase(Locale.ROOT) + after);
            variants.add(before + "%25" + hex + after);
        }
        String[] segments = path.substring(1).split("/");
        for (int s = 0; s < segments.length; s++) {
            String before = "/" + String.join("/", Arrays.copyOfRange(segments, 0, s));
            before = s == 0 ? "" : before;
            String rest = String.join("/", Arrays.copyOfRange(segments, s, segments.length));
            String segment = segments[s];
            String tail = String.join("/", Arrays.copyOfRange(segments, s + 1, segments.length));
            String afterSegment = tail.isEmpty() ? "" : "/" + tail;
            for (String replaced : List.of(segment + ";x", segment + ";", segment + ";x=1")) {
                variants.add(before + "/" + replaced + afterSegment);
            }
            // a variable's value is data, not a spelling of the route: only literal segments change case
            if (!patternSegments[s].contains("{")) {
                variants.add(before + "/" + segment.toUpperCase(Locale.ROOT) + afterSegment);
                variants.add(before + "/" + flipFirstCase(segment) + afterSegment);
            }
            for (String inserted : List.of("/.", "/x/..", "/x/..;", "/%2e", "/x/%2e%2e", "/", "\\")) {
                variants.add(before + inserted + (inserted.equals("\\") ? "" : "/") + rest);
            }
        }
        for (String suffix : List.of("/", "//", "/.", "/..", "/./", ";", ";x", "/x/..", "/%2e", "%2f", "\\")) {
            variants.add(path + suffix);
        }
        variants.add(path.toUpperCase(Locale.ROOT));
        variants.remove(path);
        return variants;
    }

    private static String flipFirstCase(String segment) {
        char c = segment.charAt(0);
        char flipped = Character.isUpperCase(c) ? Character.toLowerCase(c) : Character.toUpperCase(c);
        return flipped + segment.substring(1);
    }
}
