package io.kvpilot.api;

import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.stereotype.Component;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.reactive.CorsProcessor;
import org.springframework.web.cors.reactive.CorsUtils;
import org.springframework.web.cors.reactive.DefaultCorsProcessor;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * CORS for browser clients ({@code kvpilot.security.cors.*}), after the key filter: it answers the preflights the key
 * filter let through (those from an allowed origin) and labels actual cross-origin responses. With no allowed origin
 * it does nothing, and a browser's preflight meets the key filter's 401 as before.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 3)
class BrowserCorsFilter implements WebFilter {

    private final CorsConfiguration config; // null: CORS off
    private final CorsProcessor processor = new DefaultCorsProcessor();
    private final JsonMapper json;

    BrowserCorsFilter(SecurityProperties properties, JsonMapper json) {
        this.json = json;
        SecurityProperties.Cors cors = properties.cors();
        if (cors.enabled()) {
            config = new CorsConfiguration();
            config.setAllowedOrigins(cors.allowedOrigins());
            config.setAllowedMethods(cors.allowedMethods());
            config.setAllowedHeaders(cors.allowedHeaders());
            config.setExposedHeaders(cors.exposedHeaders());
            config.setMaxAge(cors.maxAge());
            config.setAllowCredentials(false); // keys travel in Authorization, never in cookies
        } else {
            config = null;
        }
    }

    /** Whether the key filter may let {@code request} through without a key: a preflight from an allowed origin. */
    boolean isAllowedPreflight(ServerHttpRequest request) {
        return config != null && CorsUtils.isPreFlightRequest(request)
                && config.checkOrigin(request.getHeaders().getOrigin()) != null;
    }

    /** Adds the CORS headers to a response the key filter refuses, so the page can read why. */
    void label(ServerWebExchange exchange) {
        if (config != null && CorsUtils.isCorsRequest(exchange.getRequest())) {
            processor.process(config, exchange);
        }
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        if (config == null || !CorsUtils.isCorsRequest(exchange.getRequest())) {
            return chain.filter(exchange);
        }
        if (!processor.process(config, exchange)) {
            return refuse(exchange);
        }
        // a preflight ends here, answered; an actual request goes on with the headers added
        return CorsUtils.isPreFlightRequest(exchange.getRequest()) ? Mono.empty() : chain.filter(exchange);
    }

    private Mono<Void> refuse(ServerWebExchange exchange) {
        ApiError error = new ApiError(HttpStatus.FORBIDDEN, "permission_error", "Cross-origin request refused: "
                + "its origin, method or headers are not allowed by kvpilot.security.cors", null, "cors_not_allowed",
                null);
        ServerHttpResponse response = exchange.getResponse();
        response.setStatusCode(error.status);
        response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
        byte[] bytes = json.writeValueAsBytes(error.body());
        return response.writeWith(Mono.just(response.bufferFactory().wrap(bytes)));
    }
}
