package io.kvpilot.api;

import io.kvpilot.engine.ModelInfo;
import io.kvpilot.serving.Rejection;
import io.kvpilot.serving.Scheduler;
import java.util.List;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/** {@code GET /v1/models}: the one served model, under its checkpoint directory's name. */
@RestController
class ModelsController {

    private final Scheduler scheduler;
    private final long started = java.time.Instant.now().getEpochSecond();

    ModelsController(Scheduler scheduler) {
        this.scheduler = scheduler;
    }

    @GetMapping("/v1/models")
    ModelList models() {
        if (!scheduler.isReady()) {
            throw new Rejection(Rejection.Reason.NOT_READY, "The model is not ready yet", null);
        }
        ModelInfo info = scheduler.engine().modelInfo();
        return new ModelList("list", List.of(new Model(info.id(), "model", started, "kvpilot", info.contextLength())));
    }

    record ModelList(String object, List<Model> data) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Model(String id, String object, long created, String ownedBy, int maxModelLen) {}
}
