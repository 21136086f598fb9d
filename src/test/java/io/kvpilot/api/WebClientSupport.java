package io.kvpilot.api;

import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** Real, non-blocking requests whose subscription a test can dispose of, which closes the connection. */
final class WebClientSupport {

    private WebClientSupport() {}

    static Flux<String> stream(int port, String path, String body, String key) {
        return WebClient.create("http://localhost:" + port).post().uri(path)
                .header("Authorization", "Bearer " + key).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .retrieve().bodyToFlux(String.class);
    }

    static Mono<String> complete(int port, String path, String body, String key) {
        return WebClient.create("http://localhost:" + port).post().uri(path)
                .header("Authorization", "Bearer " + key).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .retrieve().bodyToMono(String.class);
    }
}
