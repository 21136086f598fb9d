package io.kvpilot.api;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.annotation.Import;

/**
 * The whole service on a random port over the fake engine, with keys configured and small limits; every class with
 * this annotation shares one application context.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "kvpilot.security.api-keys=test-key,limited-key",
    "kvpilot.security.admin-keys=admin-key",
    // browser pages of this origin may call the API (CorsTest); every other origin is refused
    "kvpilot.security.cors.allowed-origins=https://app.example",
    "kvpilot.kv.budget-bytes=1000000",
    // served as the fake engine's id, so metrics' model_name and /v1/models agree (the path itself is never loaded)
    "kvpilot.model.path=fake-model",
    "kvpilot.scheduler.max-running-sequences=2",
    "kvpilot.scheduler.max-waiting=2",
    "kvpilot.scheduler.idle-poll=5ms",
    // the ordinary tests send bursts with one key; the limiter's own test configures a strict limiter for its key
    "resilience4j.ratelimiter.configs.per-client.limit-for-period=100000",
    "resilience4j.circuitbreaker.instances.generation.sliding-window-size=3",
    "resilience4j.circuitbreaker.instances.generation.minimum-number-of-calls=3",
    "resilience4j.circuitbreaker.instances.generation.wait-duration-in-open-state=300ms",
    "resilience4j.circuitbreaker.instances.generation.permitted-number-of-calls-in-half-open-state=1",
})
@AutoConfigureWebTestClient
@Import(FakeEngineConfiguration.class)
@interface FakeServingTest {}
