package io.kvpilot.api;

import io.kvpilot.KvPilotApplication;
import io.kvpilot.serving.FakeEngine;
import org.springframework.boot.SpringApplication;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The whole service over the {@link FakeEngine} as its own process, for tests that signal or kill it
 * ({@link ServiceProcess}); {@code -Dfake.step-millis} slows each engine step so streams stay open.
 */
public final class FakeEngineServer {

    private FakeEngineServer() {}

    public static void main(String[] args) {
        ConfigurableApplicationContext context = new SpringApplication(KvPilotApplication.class,
                FakeEngineConfiguration.class).run(args);
        context.getBean(FakeEngine.class).stepMillis = Long.getLong("fake.step-millis", 0);
    }
}
