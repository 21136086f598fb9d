package io.kvpilot.api;

import io.kvpilot.telemetry.EngineStepSample;
import io.kvpilot.telemetry.LatencyWindow;
import io.kvpilot.telemetry.Telemetry;
import io.kvpilot.telemetry.TelemetrySnapshot;
import java.util.Map;
import java.util.TreeMap;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/**
 * {@code GET /admin/telemetry}: the snapshot the controller decides from, as JSON (admin key). Read off the engine
 * thread, so it is the one the engine thread published last (at most 100 ms old); quantiles of empty windows are null.
 */
@RestController
class TelemetryController {

    private final Telemetry telemetry;

    TelemetryController(Telemetry telemetry) {
        this.telemetry = telemetry;
    }

    @GetMapping("/admin/telemetry")
    View telemetry() {
        TelemetrySnapshot s = telemetry.snapshot();
        EngineStepSample step = s.lastStep();
        return new View(new Step(step.wallSeconds(), step.tokens(), step.sequences(), step.kvEntriesRead(),
                step.path(), step.pathReason()), orNull(s.stepSecondsP50()), s.runningSequences(),
                s.waitingRequests(), s.oldestWaitSeconds(), s.kvUsedBytes(), s.kvReservedBytes(), s.kvBudgetBytes(),
                s.rssBytes(), windows(s.shortWindow()), windows(s.longWindow()));
    }

    private static Map<String, Window> windows(Map<String, LatencyWindow> byClass) {
        Map<String, Window> views = new TreeMap<>();
        byClass.forEach((sloClass, w) -> views.put(sloClass, new Window(w.windowSeconds(), w.requests(),
                orNull(w.ttftP50Seconds()), orNull(w.ttftP99Seconds()), orNull(w.tpotP50Seconds()),
                orNull(w.tpotP99Seconds()), w.tokensPerSecond())));
        return views;
    }

    private static Double orNull(double value) {
        return Double.isNaN(value) ? null : value;
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record View(Step lastStep, Double stepSecondsP50, int running, int waiting, double oldestWaitSeconds,
            long kvUsedBytes, long kvReservedBytes, long kvBudgetBytes, long rssBytes, Map<String, Window> shortWindow,
            Map<String, Window> longWindow) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Step(double wallSeconds, int tokens, int sequences, long kvEntriesRead, String path, String reason) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Window(double windowSeconds, long requests, Double ttftP50Seconds, Double ttftP99Seconds,
            Double tpotP50Seconds, Double tpotP99Seconds, double tokensPerSecond) {}
}
