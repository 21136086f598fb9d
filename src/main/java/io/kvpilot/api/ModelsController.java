package io.kvpilot.api;

import io.kvpilot.engine.ModelInfo;
import io.kvpilot.serving.Rejection;
import io.kvpilot.serving.Scheduler;
import java.util.List;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/**
 * {@code GET /v1/models} and {@code GET /v1/models/{id}} (the SDKs' {@code models.list} and {@code models.retrieve}):
 * the one served model, under its checkpoint directory's name.
 */
@RestController
class ModelsController {

    private final Scheduler scheduler;
    private final long started = java.time.Instant.now().getEpochSecond();

    ModelsController(Scheduler scheduler) {
        this.scheduler = scheduler;
    }

    @GetMapping("/v1/models")
    ModelList models() {
        return new ModelList("list", List.of(served()));
    }

    /** An id other than the served model's is a 404 {@code model_not_found}, as OpenAI answers. */
    @GetMapping("/v1/models/{id}")
    Model model(@PathVariable String id) {
        Model served = served();
        if (!served.id().equals(id)) {
            throw ApiError.modelNotFound(id);
        }
        return served;
    }

    private Model served() {
        if (!scheduler.isReady()) {
            throw new Rejection(Rejection.Reason.NOT_READY, "The model is not ready yet", null);
        }
        ModelInfo info = scheduler.engine().modelInfo();
        return new Model(info.id(), "model", started, "kvpilot", info.contextLength());
    }

    record ModelList(String object, List<Model> data) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Model(String id, String object, long created, String ownedBy, int maxModelLen) {}
}
