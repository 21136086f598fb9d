package io.kvpilot.api;

import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.ModelInfo;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.TokenPieces;
import io.kvpilot.kvcache.KeptPositions;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.policy.AutoCompression;
import io.kvpilot.serving.GenerationEvent;
import io.kvpilot.serving.GenerationRequest;
import io.kvpilot.serving.InvalidRequestException;
import io.kvpilot.serving.Rejection;
import io.kvpilot.serving.ServingGateway;
import io.kvpilot.serving.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/**
 * The KV inspector's endpoint ({@code POST /admin/kv/inspect}, admin key; docs/inspector.md): one prompt generated
 * greedily under each setting asked for and uncompressed, and per setting which prompt positions its cache kept per
 * layer and KV head, the bytes it held, its answer and, for {@code auto}, the controller's decision with every
 * candidate it scored. The generations are ordinary requests through the gateway and scheduler (admission, KV budget,
 * rate limit, freeing); parsing, tokenizing and encoding run off the event loop.
 */
@RestController
class KvInspectorController {

    private final ServingGateway gateway;
    private final RequestReader reader;
    private final InspectorProperties limits;

    KvInspectorController(ServingGateway gateway, RequestReader reader, InspectorProperties limits) {
        this.gateway = gateway;
        this.reader = reader;
        this.limits = limits;
    }

    /** One setting to inspect: a fixed spec, or {@code auto} (spec null). */
    private record Setting(Object echo, KvCompressionSpec spec) {
        boolean auto() {
            return spec == null;
        }
    }

    private record Prepared(String model, int[] ids, TokenPieces pieces, int maxTokens, List<Setting> settings,
            int layers, int kvHeads) {}

    @PostMapping("/admin/kv/inspect")
    Mono<Inspection> inspect(@RequestBody(required = false) String body, ServerWebExchange exchange) {
        String clientId = exchange.getAttributeOrDefault(ApiKeyFilter.CLIENT_ID, "anonymous");
        return Mono.fromCallable(() -> prepare(body))
                .subscribeOn(Schedulers.boundedElastic())
                .flatMap(p -> run(p, clientId).publishOn(Schedulers.boundedElastic()).map(results -> answer(p, results)));
    }

    private Prepared prepare(String body) {
        if (!gateway.scheduler().isReady()) {
            throw new Rejection(Rejection.Reason.NOT_READY, "The model is not ready yet", null);
        }
        GenerationEngine engine = gateway.scheduler().engine();
        JsonFields f = reader.object(body);
        int maxTokens = (int) f.integer("max_tokens", limits.defaultMaxTokens(), 1, limits.maxTokens());
        List<Setting> settings = settings(f.get("settings"));
        int[] ids = promptIds(f, engine);
        ModelInfo info = engine.modelInfo();
        return new Prepared(info.id(), ids, TokenPieces.of(engine.textCodec(), ids), maxTokens, settings,
                info.layers(), info.kvHeads());
    }

    private int[] promptIds(JsonFields f, GenerationEngine engine) {
        boolean chat = f.get("messages") != null;
        if (chat && f.get("prompt") != null) {
            throw ApiError.invalid("prompt", "give either 'prompt' or 'messages', not both");
        }
        String field = chat ? "messages" : "prompt";
        int[] ids;
        if (chat) {
            ids = engine.textCodec().encode(ChatPrompts.render(engine, reader.messages(f)), false);
        } else {
            String prompt = f.string("prompt", null);
            if (prompt == null || prompt.isBlank()) {
                throw ApiError.invalid("prompt", "'prompt' (a non-empty string) or 'messages' is required");
            }
            // a cheap bound before tokenizing: no tokenizer makes fewer than one token of 64 characters
            if (prompt.length() > 64L * limits.maxPromptTokens()) {
                throw ApiError.invalid("prompt", "'prompt' is longer than an inspection takes ("
                        + limits.maxPromptTokens() + " tokens at most)");
            }
            ids = engine.textCodec().encode(prompt, true);
        }
        if (ids.length > limits.maxPromptTokens()) {
            throw ApiError.invalid(field, "'" + field + "' has " + ids.length + " tokens; an inspection takes at most "
                    + limits.maxPromptTokens() + " (kvpilot.inspector.max-prompt-tokens)");
        }
        if (ids.length == 0) {
            throw ApiError.invalid(field, "'" + field + "' is empty after tokenization");
        }
        return ids;
    }

    private List<Setting> settings(JsonNode v) {
        if (v == null || !v.isArray() || v.isEmpty() || v.size() > limits.maxSettings()) {
            throw ApiError.invalid("settings", "'settings' must be an array of 1 to " + limits.maxSettings()
                    + " settings, each \"auto\" or {\"method\", \"ratio\", \"bits\"}");
        }
        List<Setting> out = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            JsonNode s = v.get(i);
            String field = "settings[" + i + "]";
            if (s.isString() && s.stringValue().equals("auto")) {
                out.add(new Setting("auto", null));
            } else {
                KvCompressionSpec spec = reader.setting(s, field);
                out.add(new Setting(PolicyAdminController.spec(spec), spec));
            }
        }
        return out;
    }

    /** One generation's answer and usage. */
    private record Answer(String text, String finishReason, Usage usage) {}

    /** The uncompressed run first, then one per setting, all queued at once (the scheduler batches them). */
    private Mono<List<Answer>> run(Prepared p, String clientId) {
        List<Setting> all = new ArrayList<>(p.settings.size() + 1);
        all.add(new Setting("off", KvCompressionSpec.NONE));
        all.addAll(p.settings);
        SamplingParams greedy = SamplingParams.greedy(p.maxTokens);
        List<Mono<Answer>> runs = new ArrayList<>(all.size());
        for (int i = 0; i < all.size(); i++) {
            Setting s = all.get(i);
            String field = i == 0 ? "prompt" : "settings[" + (i - 1) + "]";
            GenerationRequest request = s.auto()
                    ? new GenerationRequest(p.ids, greedy, reader.autoCompression(), "default",
                            reader.controllerDecidesAuto() ? AutoCompression.DEFAULT : null, true)
                    : new GenerationRequest(p.ids, greedy, s.spec, "request", null, true);
            // submitted on subscription: a failure of one cancels the others, as does the client leaving, and a
            // cancelled request frees its KV at the next engine step
            runs.add(Flux.defer(() -> gateway.generate(request, clientId))
                    .collectList()
                    .map(KvInspectorController::answer)
                    .onErrorMap(InvalidRequestException.class, e -> ApiError.invalid(field, e.getMessage())));
        }
        return Flux.mergeSequential(runs).collectList();
    }

    private static Answer answer(List<GenerationEvent> events) {
        StringBuilder text = new StringBuilder();
        events.forEach(e -> text.append(e.text()));
        GenerationEvent last = events.get(events.size() - 1);
        return new Answer(text.toString(), last.finishReason().wireName(), last.usage());
    }

    private Inspection answer(Prepared p, List<Answer> answers) {
        List<TokenView> tokens = new ArrayList<>(p.ids.length);
        for (TokenPieces.Piece piece : p.pieces.pieces()) {
            tokens.add(new TokenView(piece.id(), p.pieces.text().substring(piece.start(), piece.end()), piece.start(),
                    piece.end()));
        }
        List<Result> results = new ArrayList<>(p.settings.size());
        for (int i = 0; i < p.settings.size(); i++) {
            results.add(result(p.settings.get(i).echo, answers.get(i + 1), p));
        }
        return new Inspection(p.model, p.pieces.text(), tokens, p.layers, p.kvHeads, p.maxTokens,
                result("off", answers.get(0), p), results);
    }

    private static Result result(Object setting, Answer a, Prepared p) {
        Usage.KvReport kv = a.usage.kvCache();
        Usage.KvInspection inspection = a.usage.inspection();
        KeptPositions kept = inspection == null ? null : inspection.kept();
        List<List<String>> bits = null;
        int[] counts = null;
        Double keptFraction = null;
        if (kept != null) {
            bits = new ArrayList<>(kept.layers());
            long keptEntries = 0;
            for (int l = 0; l < kept.layers(); l++) {
                List<String> heads = new ArrayList<>(kept.kvHeads());
                for (int h = 0; h < kept.kvHeads(); h++) {
                    int[] positions = kept.kept(l, h);
                    keptEntries += positions.length;
                    heads.add(bitset(positions, kept.tokens()));
                }
                bits.add(heads);
            }
            counts = kept.keptCounts();
            keptFraction = (double) keptEntries / ((long) kept.layers() * kept.kvHeads() * kept.tokens());
        }
        var decision = inspection == null || inspection.decision() == null ? null
                : PolicyAdminController.view(Instant.now(), inspection.decision());
        return new Result(setting, PolicyAdminController.spec(new KvCompressionSpec(kv.method(), kv.ratio(), kv.bits())),
                kv.decidedBy(), a.text, a.finishReason, a.usage.completionTokens(), kv.bytes(), kv.bytesUncompressed(),
                keptFraction, counts, bits, decision);
    }

    /** Base64 of a little-endian bitset: bit {@code i % 8} of byte {@code i / 8} is set when position i was kept. */
    static String bitset(int[] positions, int tokens) {
        byte[] bytes = new byte[(tokens + 7) / 8];
        for (int position : positions) {
            bytes[position >> 3] |= (byte) (1 << (position & 7));
        }
        return Base64.getEncoder().encodeToString(bytes);
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Inspection(String model, String text, List<TokenView> tokens, int layers, int kvHeads, int maxTokens,
            Result uncompressed, List<Result> results) {}

    record TokenView(int id, String text, int start, int end) {}

    /**
     * @param setting what was asked for: {@code "auto"}, {@code "off"} or {@code {"method", "ratio", "bits"}}
     * @param applied the setting the cache really had
     * @param keptFraction kept (layer, head, position) entries over all of them, after prefill
     * @param keptCounts per prompt token, in how many (layer, head) pairs it was kept
     * @param kept per layer, per KV head, the kept positions as a base64 little-endian bitset
     * @param decision the controller's decision for {@code auto}, else null
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Result(Object setting, PolicyAdminController.SpecView applied, String decidedBy, String answer,
            String finishReason, int completionTokens, long bytes, long bytesUncompressed, Double keptFraction,
            int[] keptCounts, List<List<String>> kept, PolicyAdminController.DecisionView decision) {}
}
