package io.kvpilot.api;

import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code Authorization: Bearer <key>} on {@code /v1/**}, {@code /tokenize}, {@code /detokenize} (any key) and on
 * {@code /admin/**} and the non-public actuator endpoints (admin key). Health, info and the Prometheus scrape stay
 * open. The caller's client id (never the key) is left in the {@link #CLIENT_ID} attribute for per-key rate limiting.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 10)
class ApiKeyFilter implements WebFilter {

    static final String CLIENT_ID = "kvpilot.clientId";
    private static final Logger log = LoggerFactory.getLogger(ApiKeyFilter.class);

    private final SecurityProperties properties;
    private final ApiKeys keys;
    private final JsonMapper json;

    ApiKeyFilter(SecurityProperties properties, ApiKeys keys, JsonMapper json) {
        this.properties = properties;
        this.keys = keys;
        this.json = json;
        if (properties.isOpen()) {
            log.warn("**************************************************************************************");
            log.warn("* NO API KEYS CONFIGURED: every endpoint is open. Development only. Set               *");
            log.warn("* KVPILOT_SECURITY_API_KEYS and KVPILOT_SECURITY_ADMIN_KEYS (comma-separated).         *");
            log.warn("**************************************************************************************");
        }
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        String path = exchange.getRequest().getPath().pathWithinApplication().value();
        boolean admin = path.startsWith("/admin/") || isPrivateActuator(path);
        boolean api = path.startsWith("/v1/") || path.equals("/tokenize") || path.equals("/detokenize");
        if (properties.isOpen() || !(admin || api)) {
            exchange.getAttributes().put(CLIENT_ID, "anonymous");
            return chain.filter(exchange);
        }
        String key = bearer(exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION));
        if (key == null) {
            return reject(exchange, ApiError.unauthorized("Missing API key: send 'Authorization: Bearer <key>'"));
        }
        ApiKeys.Caller caller = keys.identify(key);
        if (caller.role() == ApiKeys.Role.NONE) {
            return reject(exchange, ApiError.unauthorized("Invalid API key"));
        }
        if (admin && caller.role() != ApiKeys.Role.ADMIN) {
            return reject(exchange, ApiError.forbidden("This endpoint needs an admin key"));
        }
        exchange.getAttributes().put(CLIENT_ID, caller.clientId());
        return chain.filter(exchange);
    }

    private static boolean isPrivateActuator(String path) {
        return path.startsWith("/actuator") && !path.equals("/actuator/health") && !path.startsWith("/actuator/health/")
                && !path.equals("/actuator/prometheus") && !path.equals("/actuator/info");
    }

    private static String bearer(String header) {
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        String key = header.substring(7).trim();
        return key.isEmpty() ? null : key;
    }

    private Mono<Void> reject(ServerWebExchange exchange, ApiError error) {
        var response = exchange.getResponse();
        response.setStatusCode(error.status);
        response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
        if (error.status.value() == 401) {
            response.getHeaders().set(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        }
        byte[] bytes = json.writeValueAsString(error.body()).getBytes(StandardCharsets.UTF_8);
        return response.writeWith(Mono.just(response.bufferFactory().wrap(bytes)));
    }
}
