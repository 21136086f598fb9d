package io.kvpilot.api;

import java.nio.charset.StandardCharsets;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.http.server.reactive.ServerHttpResponseDecorator;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

/**
 * Gives an error that a handler ends without a body OpenAI's error shape: the actuator answers an unknown metric,
 * health component or circuit breaker name with a bare 404, which clients of this API could not tell from a broken
 * proxy. Runs right after the key filter; answers with a body are left as they are.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 2)
class EmptyErrorBodyFilter implements WebFilter {

    private final JsonMapper json;

    EmptyErrorBodyFilter(JsonMapper json) {
        this.json = json;
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        if (exchange.getRequest().getMethod() == HttpMethod.HEAD) {
            return chain.filter(exchange);
        }
        String where = exchange.getRequest().getMethod() + " " + exchange.getRequest().getPath().value();
        return chain.filter(exchange.mutate().response(new Decorator(exchange.getResponse(), where)).build());
    }

    private final class Decorator extends ServerHttpResponseDecorator {

        private final String where;

        Decorator(ServerHttpResponse delegate, String where) {
            super(delegate);
            this.where = where;
        }

        @Override
        public Mono<Void> setComplete() {
            HttpStatus status = getStatusCode() == null ? null : HttpStatus.resolve(getStatusCode().value());
            if (status == null || !status.isError() || isCommitted()) {
                return super.setComplete();
            }
            ApiError error = ApiError.ofStatus(status, status == HttpStatus.NOT_FOUND ? "Nothing at " + where
                    : status.getReasonPhrase());
            getHeaders().setContentType(MediaType.APPLICATION_JSON);
            byte[] bytes = json.writeValueAsString(error.body()).getBytes(StandardCharsets.UTF_8);
            return writeWith(Mono.just(bufferFactory().wrap(bytes)));
        }
    }
}
