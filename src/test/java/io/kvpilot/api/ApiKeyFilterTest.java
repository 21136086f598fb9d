package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.mock.http.server.reactive.MockServerHttpRequest;
import org.springframework.mock.web.server.MockServerWebExchange;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/** Which paths need which key, without starting a server. */
class ApiKeyFilterTest {

    private final JsonMapper json = JsonMapper.builder().build();

    private MockServerWebExchange run(ApiKeyFilter filter, MockServerHttpRequest request, AtomicBoolean passed) {
        MockServerWebExchange exchange = MockServerWebExchange.from(request);
        WebFilterChain chain = e -> {
            passed.set(true);
            return Mono.empty();
        };
        filter.filter(exchange, chain).block();
        return exchange;
    }

    private final SecurityProperties keyed = new SecurityProperties(List.of("user-key"), List.of("admin-key"), "",
            SecurityProperties.Cors.allowing());
    private final ApiKeys keys = new ApiKeys(keyed);

    private ApiKeyFilter withKeys() {
        return new ApiKeyFilter(keyed, keys, json, new BrowserCorsFilter(keyed, json));
    }

    @Test
    void withoutConfiguredKeysEverythingIsOpen() {
        SecurityProperties none = new SecurityProperties(List.of(), List.of(" "), null,
                SecurityProperties.Cors.allowing());
        ApiKeyFilter open = new ApiKeyFilter(none, new ApiKeys(none), json, new BrowserCorsFilter(none, json));
        AtomicBoolean passed = new AtomicBoolean();

        run(open, MockServerHttpRequest.get("/admin/scheduler").build(), passed);

        assertThat(passed).isTrue();
    }

    @Test
    void userKeyPassesOnTheApiAndIsRecordedOnlyAsItsClientId() {
        AtomicBoolean passed = new AtomicBoolean();

        MockServerWebExchange exchange = run(withKeys(), MockServerHttpRequest.post("/v1/completions")
                .header("Authorization", "Bearer user-key").build(), passed);

        assertThat(passed).isTrue();
        assertThat((String) exchange.getAttribute(ApiKeyFilter.CLIENT_ID))
                .isEqualTo(keys.clientIdOf("user-key")).doesNotContain("user-key");
    }

    @Test
    void adminKeyAlsoWorksAsAnApiKey() {
        AtomicBoolean passed = new AtomicBoolean();

        run(withKeys(), MockServerHttpRequest.post("/tokenize").header("Authorization", "Bearer admin-key").build(),
                passed);

        assertThat(passed).isTrue();
    }

    @Test
    void nonBearerSchemeIsA401() {
        AtomicBoolean passed = new AtomicBoolean();

        MockServerWebExchange exchange = run(withKeys(), MockServerHttpRequest.post("/detokenize")
                .header("Authorization", "Basic user-key").build(), passed);

        assertThat(passed).isFalse();
        assertThat(exchange.getResponse().getStatusCode()).isEqualTo(HttpStatus.UNAUTHORIZED);
    }

    @Test
    void prometheusScrapeNeedsNoKey() {
        AtomicBoolean passed = new AtomicBoolean();

        run(withKeys(), MockServerHttpRequest.get("/actuator/prometheus").build(), passed);

        assertThat(passed).isTrue();
    }

    @Test
    void otherActuatorEndpointsNeedAnAdminKey() {
        AtomicBoolean passed = new AtomicBoolean();

        MockServerWebExchange exchange = run(withKeys(), MockServerHttpRequest.get("/actuator/circuitbreakers")
                .header("Authorization", "Bearer user-key").build(), passed);

        assertThat(passed).isFalse();
        assertThat(exchange.getResponse().getStatusCode()).isEqualTo(HttpStatus.FORBIDDEN);
    }

    @Test
    void nonCanonicalPathIsA400EvenWithoutKeysConfigured() {
        SecurityProperties none = new SecurityProperties(List.of(), List.of(), null,
                SecurityProperties.Cors.allowing());
        ApiKeyFilter open = new ApiKeyFilter(none, new ApiKeys(none), json, new BrowserCorsFilter(none, json));
        AtomicBoolean passed = new AtomicBoolean();

        MockServerWebExchange exchange = run(open, MockServerHttpRequest.get("/v1;x/models").build(), passed);

        assertThat(passed).isFalse();
        assertThat(exchange.getResponse().getStatusCode()).isEqualTo(HttpStatus.BAD_REQUEST);
    }

    @Test
    void pathsOutsideTheAllowListNeedAKeyEvenWhenNothingMapsThem() {
        AtomicBoolean passed = new AtomicBoolean();

        MockServerWebExchange exchange = run(withKeys(), MockServerHttpRequest.get("/index.html").build(), passed);

        assertThat(passed).isFalse();
        assertThat(exchange.getResponse().getStatusCode()).isEqualTo(HttpStatus.UNAUTHORIZED);
    }

    @Test
    void healthComponentsBeyondTheProbesNeedAnAdminKey() {
        AtomicBoolean passed = new AtomicBoolean();

        MockServerWebExchange exchange = run(withKeys(), MockServerHttpRequest.get("/actuator/health/diskSpace")
                .header("Authorization", "Bearer user-key").build(), passed);

        assertThat(passed).isFalse();
        assertThat(exchange.getResponse().getStatusCode()).isEqualTo(HttpStatus.FORBIDDEN);
    }
}
