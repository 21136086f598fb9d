package io.kvpilot.api;

import io.kvpilot.serving.EngineFactory;
import io.kvpilot.serving.FakeEngine;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;

/** Serves the model-free {@link FakeEngine} (context window 256 tokens) instead of a checkpoint. */
@TestConfiguration(proxyBeanMethods = false)
class FakeEngineConfiguration {

    @Bean
    FakeEngine fakeEngine() {
        return new FakeEngine(256);
    }

    @Bean
    @Primary
    EngineFactory fakeEngineFactory(FakeEngine engine) {
        return () -> engine;
    }
}
