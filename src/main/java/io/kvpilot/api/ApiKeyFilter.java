package io.kvpilot.api;

import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * The first filter of every request. A path that is not {@linkplain CanonicalPath canonical} is a 400
 * ({@code invalid_path}) before anything else reads it; then access is denied by default: only {@link #PUBLIC_PATHS}
 * are open, {@code /admin/**} and {@code /actuator/**} need an admin key, every other path (the API, and paths that
 * match nothing, which then answer 404) needs an API or admin key. Since the canonical path is the one the router
 * matches (case-sensitively), the rule reads the same path the handler is chosen by. The caller's client id is left in
 * the {@link #CLIENT_ID} attribute for per-key rate limiting. The one request let through without a key is a CORS
 * preflight from an allowed origin ({@link BrowserCorsFilter}, off by default): browsers send preflights without
 * credentials, and it reaches no handler.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 1) // right after RequestIdFilter, which only labels the response
class ApiKeyFilter implements WebFilter {

    static final String CLIENT_ID = "kvpilot.clientId";

    /**
     * Probes and the Prometheus scrape, which run without keys; and the KV inspector page's static files, which hold
     * no data (a browser cannot send a key when it opens a page; the page sends the admin key it asks for).
     */
    static final Set<String> PUBLIC_PATHS = Set.of("/actuator/health", "/actuator/health/liveness",
            "/actuator/health/readiness", "/actuator/info", "/actuator/prometheus", InspectorPageController.PAGE,
            InspectorPageController.PAGE + "/inspector.js", InspectorPageController.PAGE + "/inspector.css");

    private static final Logger log = LoggerFactory.getLogger(ApiKeyFilter.class);

    private enum Access { PUBLIC, KEY, ADMIN_KEY }

    private final SecurityProperties properties;
    private final ApiKeys keys;
    private final JsonMapper json;
    private final BrowserCorsFilter cors;

    ApiKeyFilter(SecurityProperties properties, ApiKeys keys, JsonMapper json, BrowserCorsFilter cors) {
        this.properties = properties;
        this.keys = keys;
        this.json = json;
        this.cors = cors;
        if (properties.isOpen()) {
            log.warn("**************************************************************************************");
            log.warn("* NO API KEYS CONFIGURED: every endpoint is open. Development only. Set               *");
            log.warn("* KVPILOT_SECURITY_API_KEYS and KVPILOT_SECURITY_ADMIN_KEYS (comma-separated).         *");
            log.warn("**************************************************************************************");
        }
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        String path = exchange.getRequest().getPath().value();
        if (!CanonicalPath.isCanonical(path)) {
            return reject(exchange, new ApiError(HttpStatus.BAD_REQUEST, "invalid_request_error", "The request path "
                    + "is not in canonical form: no percent-encoding, ';' parameters, '.' or '..' segments, empty "
                    + "segments or trailing '/'", null, "invalid_path", null));
        }
        Access access = accessFor(path);
        if (properties.isOpen() || access == Access.PUBLIC || cors.isAllowedPreflight(exchange.getRequest())) {
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
        if (access == Access.ADMIN_KEY && caller.role() != ApiKeys.Role.ADMIN) {
            return reject(exchange, ApiError.forbidden("This endpoint needs an admin key"));
        }
        exchange.getAttributes().put(CLIENT_ID, caller.clientId());
        return chain.filter(exchange);
    }

    private static Access accessFor(String path) {
        if (PUBLIC_PATHS.contains(path)) {
            return Access.PUBLIC;
        }
        boolean admin = path.equals("/admin") || path.startsWith("/admin/") || path.equals("/actuator")
                || path.startsWith("/actuator/");
        return admin ? Access.ADMIN_KEY : Access.KEY;
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
        cors.label(exchange);
        response.setStatusCode(error.status);
        response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
        if (error.status.value() == 401) {
            response.getHeaders().set(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        }
        byte[] bytes = json.writeValueAsString(error.body()).getBytes(StandardCharsets.UTF_8);
        return response.writeWith(Mono.just(response.bufferFactory().wrap(bytes)));
    }
}
