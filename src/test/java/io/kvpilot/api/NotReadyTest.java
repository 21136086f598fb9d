package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.EngineFactory;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;

/** While the model is still loading: readiness DOWN, liveness UP, requests 503. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
@Import(NotReadyTest.NeverLoads.class)
class NotReadyTest {

    @TestConfiguration(proxyBeanMethods = false)
    static class NeverLoads {

        @Bean
        @Primary
        EngineFactory neverLoadingEngine() {
            return () -> {
                new CountDownLatch(1).await();
                throw new IllegalStateException("unreachable");
            };
        }
    }

    @Autowired
    WebTestClient client;

    @org.junit.jupiter.api.BeforeEach
    void patientClient() {
        // the first request of a fresh context runs cold code: on the loaded 2-core machine it took over 5 s
        client = client.mutate().responseTimeout(java.time.Duration.ofSeconds(30)).build();
    }

    @Test
    void readinessIsDownWhileTheModelLoads() {
        client.get().uri("/actuator/health/readiness").exchange().expectStatus().isEqualTo(503);
    }

    @Test
    void livenessIsUpWhileTheModelLoads() {
        client.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk();
    }

    @Test
    void completionIs503WhileTheModelLoads() {
        client.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"prompt\": \"x\"}").exchange()
                .expectStatus().isEqualTo(503)
                .expectHeader().exists("Retry-After")
                .expectBody().jsonPath("$.error.code").isEqualTo("not_ready");
    }

    @Test
    void notReadyRefusalsAreCountedAsRejections() {
        double before = notReadyRejections();
        for (String path : new String[] {"/v1/completions", "/v1/chat/completions"}) {
            client.post().uri(path).contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"prompt\": \"x\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}")
                    .exchange().expectStatus().isEqualTo(503);
        }

        assertThat(notReadyRejections() - before).isEqualTo(2);
    }

    private double notReadyRejections() {
        return PrometheusScrape.parse(client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody())
                .sum("kvpilot_admission_rejections_total", "reason=\"not_ready\"");
    }
}
