package io.kvpilot.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.telemetry.ServingMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.Status;

/** The readiness contribution: out of service while loading and while draining, up only when ready. */
class EngineHealthIndicatorTest {

    private final Scheduler scheduler = new Scheduler(() -> new FakeEngine(64),
            new SchedulerSettings(1, 64, 1, 1 << 20, Duration.ofSeconds(5), Duration.ofSeconds(1),
                    Duration.ofMillis(5)),
            new ServingMetrics(new SimpleMeterRegistry()), System::nanoTime);
    private final EngineHealthIndicator health = new EngineHealthIndicator(scheduler);

    @AfterEach
    void stop() {
        scheduler.close();
    }

    private void awaitReady() {
        long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!scheduler.isReady() && System.nanoTime() < until) {
            Thread.onSpinWait();
        }
    }

    @Test
    void outOfServiceBeforeTheModelIsLoaded() {
        assertThat(health.health().getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
    }

    @Test
    void upOnceLoadedAndWarmed() {
        scheduler.start();
        awaitReady();

        assertThat(health.health().getStatus()).isEqualTo(Status.UP);
    }

    @Test
    void outOfServiceWhileShutdownDrains() {
        scheduler.start();
        awaitReady();

        scheduler.beginDrain();

        assertThat(health.health().getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
    }
}
