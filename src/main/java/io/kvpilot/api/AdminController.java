package io.kvpilot.api;

import io.kvpilot.serving.Scheduler;
import io.kvpilot.serving.ServingGateway;
import io.kvpilot.telemetry.ServingMetrics;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/** Admin-only views ({@code /admin/**} needs an admin key); the policy's inspection endpoints will join here. */
@RestController
class AdminController {

    private final ServingGateway gateway;
    private final ServingMetrics metrics;

    AdminController(ServingGateway gateway, ServingMetrics metrics) {
        this.gateway = gateway;
        this.metrics = metrics;
    }

    @GetMapping("/admin/scheduler")
    SchedulerView scheduler() {
        Scheduler s = gateway.scheduler();
        return new SchedulerView(s.state().name().toLowerCase(java.util.Locale.ROOT), s.runningCount(),
                s.waitingCount(), metrics.kvUsedBytes(), s.settings().kvBudgetBytes(),
                gateway.circuitBreaker().getState().name().toLowerCase(java.util.Locale.ROOT));
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record SchedulerView(String state, int running, int waiting, long kvUsedBytes, long kvBudgetBytes,
            String circuitBreaker) {}
}
