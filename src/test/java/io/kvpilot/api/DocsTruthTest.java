package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.context.properties.ConfigurationPropertiesBean;
import org.springframework.context.ApplicationContext;
import org.springframework.http.MediaType;
import org.springframework.http.server.PathContainer;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * README.md and docs/ against the running service, both ways: every {@code kvpilot.*} configuration key a doc names
 * is bound by one of the service's {@code @ConfigurationProperties} records and every key they bind is in docs/api.md;
 * every metric docs/metrics.md names is in a real scrape after some traffic and every {@code kvpilot_*} family scraped
 * is documented; every endpoint of docs/api.md's tables is mapped by the router and every mapped path outside
 * {@code /actuator} is in them.
 */
@FakeServingTest
class DocsTruthTest {

    /** A key as docs write it; {@code `a.b.c` / `.d`} and {@code `a.b-c` / `d`} name the siblings a.b.d. */
    private static final Pattern KEY_RUN = Pattern.compile(
            "(?<![\\w./-])(kvpilot\\.[a-z0-9.<>*-]*[a-z0-9>*])`?((?:\\s*/\\s*`[a-z0-9.<>*-]+`)*)");
    private static final Pattern SIBLING = Pattern.compile("`([a-z0-9.<>*-]+)`");
    private static final Pattern METRIC = Pattern.compile("`((?:kvpilot|process|resilience4j|http_server)_[a-z0-9_]+)");
    private static final Pattern ENDPOINT_ROW = Pattern.compile("^\\|\\s*(GET|POST|PUT|DELETE|PATCH)\\s*\\|([^|]*)\\|");
    private static final Pattern PATH = Pattern.compile("`(/[^`\\s]*)`");
    private static final Pattern VARIABLE = Pattern.compile("\\{\\*?\\w+(:[^}]*)?}");

    @Autowired
    ApplicationContext context;

    @Autowired
    WebTestClient client;

    @Autowired
    Scheduler scheduler;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        client = client.mutate().responseTimeout(Duration.ofSeconds(30)).build();
    }

    // --- configuration keys ---

    @Test
    void everyDocumentedKeyIsBoundAndEveryBoundKeyIsInApiMd() {
        Set<String> bound = boundKeys();
        assertThat(bound).as("keys read from the @ConfigurationProperties records")
                .contains("kvpilot.model.path", "kvpilot.scheduler.drain-grace", "kvpilot.policy.pressure.enter");

        List<String> unknown = new ArrayList<>();
        for (Path doc : docs()) {
            for (String key : documentedKeys(read(doc))) {
                if (bound.stream().noneMatch(b -> names(key, b))) {
                    unknown.add(doc + ": " + key);
                }
            }
        }
        Set<String> inApi = documentedKeys(read(Path.of("docs/api.md")));
        List<String> undocumented = bound.stream().filter(b -> !inApi.contains(b)).toList();

        assertThat(unknown).as("keys documented that no @ConfigurationProperties record binds").isEmpty();
        assertThat(undocumented).as("bound keys docs/api.md does not name").isEmpty();
    }

    /** Every leaf key of the service's {@code kvpilot.*} properties records; a map's key is written {@code <name>}. */
    private Set<String> boundKeys() {
        Set<String> keys = new TreeSet<>();
        for (ConfigurationPropertiesBean bean : ConfigurationPropertiesBean.getAll(context).values()) {
            String prefix = bean.getAnnotation().prefix().isEmpty() ? bean.getAnnotation().value()
                    : bean.getAnnotation().prefix();
            if (prefix.equals("kvpilot") || prefix.startsWith("kvpilot.")) {
                collect(prefix, bean.getInstance().getClass(), keys);
            }
        }
        return keys;
    }

    private static void collect(String prefix, Type type, Set<String> keys) {
        if (type instanceof Class<?> c && c.isRecord() && c.getPackageName().startsWith("io.kvpilot")) {
            for (RecordComponent component : c.getRecordComponents()) {
                collect(prefix + "." + kebab(component.getName()), component.getGenericType(), keys);
            }
        } else if (type instanceof ParameterizedType p && p.getRawType() == Map.class) {
            collect(prefix + ".<name>", p.getActualTypeArguments()[1], keys);
        } else {
            keys.add(prefix);
        }
    }

    private static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(java.util.Locale.ROOT);
    }

    /** Whether the documented key (a leaf, a group or a {@code *} pattern) names the bound leaf. */
    private static boolean names(String documented, String bound) {
        if (documented.endsWith("*")) {
            return bound.startsWith(documented.substring(0, documented.length() - 1));
        }
        return bound.equals(documented) || bound.startsWith(documented + ".");
    }

    static Set<String> documentedKeys(String text) {
        Set<String> keys = new TreeSet<>();
        Matcher run = KEY_RUN.matcher(text);
        while (run.find()) {
            String key = run.group(1).replaceAll("\\.+$", "");
            keys.add(key);
            Matcher sibling = SIBLING.matcher(run.group(2));
            while (sibling.find()) {
                String s = sibling.group(1);
                keys.add(s.startsWith("kvpilot.") ? s
                        : key.substring(0, key.lastIndexOf('.') + (s.startsWith(".") ? 0 : 1)) + s);
            }
        }
        return keys;
    }

    // --- metrics ---

    @Test
    void everyDocumentedMetricIsScrapedAndEveryScrapedKvpilotFamilyIsDocumented() {
        someTraffic();
        PrometheusScrape scrape = PrometheusScrape.parse(client.get().uri("/actuator/prometheus").exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody());
        Set<String> documented = documentedMetrics(read(Path.of("docs/metrics.md")));
        assertThat(documented).as("metric names read from docs/metrics.md")
                .contains("kvpilot_request_success_total", "kvpilot_kv_compression_ratio");

        Set<String> sampleNames = new TreeSet<>();
        scrape.samples().keySet().forEach(k -> sampleNames.add(k.replaceAll("\\{.*$", "")));
        List<String> missing = documented.stream()
                .filter(m -> !sampleNames.contains(m) && !sampleNames.contains(m + "_count")
                        && !scrape.types().containsKey(m))
                .toList();
        List<String> undocumented = scrape.types().keySet().stream().filter(f -> f.startsWith("kvpilot_"))
                .filter(f -> !documented.contains(f) && !documented.contains(f + "_total")
                        && !(f.endsWith("_max") && documented.contains(f.substring(0, f.length() - 4))))
                .sorted().toList();

        assertThat(missing).as("documented metrics the scrape does not have").isEmpty();
        assertThat(undocumented).as("kvpilot_* families docs/metrics.md does not name").isEmpty();
    }

    /** Requests that make every documented series appear: compressed, auto (a controller decision), refused. */
    private void someTraffic() {
        post("{\"prompt\": \"" + "docs ".repeat(12) + "\", \"max_tokens\": 4, "
                + "\"kv_compression\": {\"method\": \"snapkv\", \"ratio\": 0.5}}", 200);
        post("{\"prompt\": \"an auto request\", \"max_tokens\": 4}", 200);
        post("{\"prompt\": \"" + "x".repeat(300) + "\"}", 413);
    }

    private void post(String body, int status) {
        client.post().uri("/v1/completions").header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange().expectStatus().isEqualTo(status);
    }

    static Set<String> documentedMetrics(String text) {
        Set<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(text);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    // --- endpoints ---

    @Test
    void everyDocumentedEndpointIsMappedAndEveryMappedPathOutsideActuatorIsDocumented() {
        Set<MappedRoutes.Mapping> mappings = MappedRoutes.of(context);
        List<String[]> documented = documentedEndpoints(read(Path.of("docs/api.md")));
        assertThat(documented).as("endpoints read from docs/api.md's tables").isNotEmpty();

        List<String> unmapped = new ArrayList<>();
        for (String[] endpoint : documented) {
            PathContainer path = PathContainer.parsePath(VARIABLE.matcher(endpoint[1]).replaceAll("x"));
            if (mappings.stream().noneMatch(m -> m.method().equals(endpoint[0]) && m.pattern().matches(path))) {
                unmapped.add(endpoint[0] + " " + endpoint[1]);
            }
        }
        Set<String> documentedPatterns = new TreeSet<>();
        documented.forEach(e -> documentedPatterns.add(e[0] + " " + VARIABLE.matcher(e[1]).replaceAll("{}")));
        List<String> undocumented = mappings.stream()
                .filter(m -> !m.pattern().getPatternString().startsWith("/actuator"))
                .map(m -> m.method() + " " + VARIABLE.matcher(m.pattern().getPatternString()).replaceAll("{}"))
                .filter(route -> !documentedPatterns.contains(route)).sorted().distinct().toList();

        assertThat(unmapped).as("endpoints docs/api.md lists that the router does not map").isEmpty();
        assertThat(undocumented).as("mapped routes docs/api.md does not list").isEmpty();
    }

    /** Rows of docs/api.md's tables whose first cell is an HTTP method: {method, path} for each path in the row. */
    static List<String[]> documentedEndpoints(String text) {
        List<String[]> endpoints = new ArrayList<>();
        for (String line : text.split("\n")) {
            Matcher row = ENDPOINT_ROW.matcher(line);
            if (row.find()) {
                Matcher path = PATH.matcher(row.group(2));
                while (path.find()) {
                    endpoints.add(new String[] {row.group(1), path.group(1)});
                }
            }
        }
        return endpoints;
    }

    // --- the documents ---

    private static List<Path> docs() {
        try (Stream<Path> files = Files.list(Path.of("docs"))) {
            List<Path> docs = new ArrayList<>(files.filter(p -> p.toString().endsWith(".md")).sorted().toList());
            docs.add(Path.of("README.md"));
            return docs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path doc) {
        try {
            return Files.readString(doc);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
