package io.kvpilot.api;

import java.util.UUID;
import java.util.regex.Pattern;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;

/**
 * {@code x-request-id} on every response, as OpenAI's API sends it: the caller's own id when it sent a well-formed
 * one (so a gateway's id follows the request through), otherwise a new one. Runs before the key filter, so refusals
 * carry it too. The id is left in {@link #ATTRIBUTE} for handlers and logs.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE)
class RequestIdFilter implements WebFilter {

    static final String HEADER = "x-request-id";
    static final String ATTRIBUTE = "kvpilot.requestId";

    // an id that is safe to echo in a header and to log: no separators, no control characters, bounded
    private static final Pattern WELL_FORMED = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        String given = exchange.getRequest().getHeaders().getFirst(HEADER);
        String id = given != null && WELL_FORMED.matcher(given).matches() ? given : "req-" + UUID.randomUUID();
        exchange.getAttributes().put(ATTRIBUTE, id);
        exchange.getResponse().getHeaders().set(HEADER, id);
        return chain.filter(exchange);
    }
}
