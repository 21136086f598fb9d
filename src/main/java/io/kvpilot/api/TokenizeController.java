package io.kvpilot.api;

import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.serving.Rejection;
import io.kvpilot.serving.Scheduler;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/** vLLM's {@code /tokenize} ({@code prompt} or chat {@code messages}) and {@code /detokenize} ({@code tokens}). */
@RestController
class TokenizeController {

    private final Scheduler scheduler;
    private final RequestReader reader;

    TokenizeController(Scheduler scheduler, RequestReader reader) {
        this.scheduler = scheduler;
        this.reader = reader;
    }

    @PostMapping(path = "/tokenize", consumes = MediaType.APPLICATION_JSON_VALUE)
    Mono<Tokens> tokenize(@RequestBody(required = false) String body) {
        return Mono.fromCallable(() -> {
            GenerationEngine engine = engine();
            JsonFields f = reader.object(body);
            boolean special = f.bool("add_special_tokens", true);
            int[] ids;
            if (f.get("messages") != null) {
                ids = engine.textCodec().encode(ChatPrompts.render(engine, reader.messages(f)), false);
            } else {
                ids = engine.textCodec().encode(f.string("prompt", null) == null ? missingPrompt()
                        : f.string("prompt", null), special);
            }
            return new Tokens(ids, ids.length, engine.modelInfo().contextLength());
        }).subscribeOn(Schedulers.boundedElastic());
    }

    @PostMapping(path = "/detokenize", consumes = MediaType.APPLICATION_JSON_VALUE)
    Mono<Text> detokenize(@RequestBody(required = false) String body) {
        return Mono.fromCallable(() -> {
            GenerationEngine engine = engine();
            JsonNode tokens = reader.object(body).get("tokens");
            if (tokens == null || !tokens.isArray()) {
                throw ApiError.invalid("tokens", "'tokens' must be an array of token ids");
            }
            int[] ids = new int[tokens.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode t = tokens.get(i);
                if (!t.isIntegralNumber() || !t.canConvertToInt() || t.intValue() < 0
                        || t.intValue() >= engine.modelInfo().vocabSize()) {
                    throw ApiError.invalid("tokens", "'tokens' must hold token ids in [0, "
                            + engine.modelInfo().vocabSize() + ")");
                }
                ids[i] = t.intValue();
            }
            return new Text(engine.textCodec().decode(ids));
        }).subscribeOn(Schedulers.boundedElastic());
    }

    private static String missingPrompt() {
        throw ApiError.invalid("prompt", "'prompt' (a string) or 'messages' is required");
    }

    private GenerationEngine engine() {
        if (!scheduler.isReady()) {
            throw new Rejection(Rejection.Reason.NOT_READY, "The model is not ready yet", null);
        }
        return scheduler.engine();
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Tokens(int[] tokens, int count, int maxModelLen) {}

    record Text(String prompt) {}
}
