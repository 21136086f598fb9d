package io.kvpilot.serving;

import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/** Part of the readiness group: UP only while the model is loaded, warmed and taking requests. */
final class EngineHealthIndicator implements HealthIndicator {

    private final Scheduler scheduler;

    EngineHealthIndicator(Scheduler scheduler) {
        this.scheduler = scheduler;
    }

    @Override
    public Health health() {
        Health.Builder builder = switch (scheduler.state()) {
            case READY -> Health.up();
            case LOADING, DRAINING -> Health.outOfService();
            case STOPPED, FAILED -> Health.down();
        };
        return builder.withDetail("state", scheduler.state().name().toLowerCase(java.util.Locale.ROOT))
                .withDetail("running", scheduler.runningCount())
                .withDetail("waiting", scheduler.waitingCount()).build();
    }
}
