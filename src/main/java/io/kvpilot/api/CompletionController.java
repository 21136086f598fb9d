package io.kvpilot.api;

import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.serving.GenerationEvent;
import io.kvpilot.serving.GenerationRequest;
import io.kvpilot.serving.Rejection;
import io.kvpilot.serving.ServingGateway;
import io.kvpilot.serving.ServingProperties;
import io.kvpilot.serving.Usage;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.reactivestreams.Subscription;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code /v1/completions} and {@code /v1/chat/completions}. Parsing and tokenizing run off the event loop; each
 * request is one ordered {@code Flux} from the scheduler, and a client that goes away cancels it (and so frees its
 * KV at the next engine step). Prompts and completions are never logged.
 */
@RestController
class CompletionController {

    private final ServingGateway gateway;
    private final RequestReader reader;
    private final JsonMapper json;
    private static final String KEEP_ALIVE = ": keep-alive\n\n";

    private final Duration keepAlive;
    private final SystemFingerprint fingerprint;

    CompletionController(ServingGateway gateway, RequestReader reader, JsonMapper json, ServingProperties properties,
            SystemFingerprint fingerprint) {
        this.gateway = gateway;
        this.reader = reader;
        this.json = json;
        this.fingerprint = fingerprint;
        this.keepAlive = properties.scheduler().streamKeepAlive();
    }

    @PostMapping(path = "/v1/completions", consumes = MediaType.APPLICATION_JSON_VALUE)
    Mono<Void> completions(@RequestBody(required = false) String body, ServerWebExchange exchange) {
        return Mono.fromCallable(() -> {
            GenerationEngine engine = readyEngine();
            JsonFields fields = reader.object(body);
            CompletionParams params = reader.params(fields, null);
            List<Object> prompts = reader.prompts(fields);
            List<int[]> ids = new ArrayList<>(prompts.size());
            for (Object prompt : prompts) {
                ids.add(prompt instanceof String text ? engine.textCodec().encode(text, true)
                        : checkedIds((int[]) prompt, engine.modelInfo().vocabSize()));
            }
            return new Prepared(params, ids, header("cmpl-", params, engine), StreamFormat.TEXT);
        }).subscribeOn(Schedulers.boundedElastic()).flatMap(p -> Mono.defer(() -> generate(p, exchange)));
    }

    @PostMapping(path = "/v1/chat/completions", consumes = MediaType.APPLICATION_JSON_VALUE)
    Mono<Void> chat(@RequestBody(required = false) String body, ServerWebExchange exchange) {
        return Mono.fromCallable(() -> {
            GenerationEngine engine = readyEngine();
            JsonFields fields = reader.object(body);
            CompletionParams params = reader.params(fields, "max_completion_tokens");
            String prompt = ChatPrompts.render(engine, reader.messages(fields));
            int[] ids = engine.textCodec().encode(prompt, false);
            return new Prepared(params, List.of(ids), header("chatcmpl-", params, engine), StreamFormat.CHAT);
        }).subscribeOn(Schedulers.boundedElastic()).flatMap(p -> Mono.defer(() -> generate(p, exchange)));
    }

    /** A request ready to generate: one token-id prompt per choice. */
    private record Prepared(CompletionParams params, List<int[]> prompts, StreamFormat.Header header,
            StreamFormat format) {}

    /** One prompt's event, with the index of the choice it belongs to. */
    private record ChoiceEvent(int index, GenerationEvent event) {}

    private StreamFormat.Header header(String idPrefix, CompletionParams params, GenerationEngine engine) {
        return new StreamFormat.Header(idPrefix + UUID.randomUUID().toString().replace("-", ""),
                Instant.now().getEpochSecond(), servedModel(params, engine), fingerprint.of(engine.modelInfo()));
    }

    private Mono<Void> generate(Prepared p, ServerWebExchange exchange) {
        String clientId = exchange.getAttributeOrDefault(ApiKeyFilter.CLIENT_ID, "anonymous");
        // Each prompt is admitted as its own sequence; from its admission it holds a bulkhead permit and a place in
        // the scheduler, given back when its events end or are cancelled. Netty may end a response to a client that
        // hung up without ever subscribing to the body, or with an error that leaves the body's subscription open;
        // either would hold them for good. A prompt refused at admission lets go of those admitted before it.
        List<HeldEvents> held = new ArrayList<>(p.prompts.size());
        try {
            for (int[] ids : p.prompts) {
                held.add(new HeldEvents(gateway.generate(new GenerationRequest(ids, p.params.sampling(),
                        p.params.compression(), p.params.decidedBy(), p.params.auto()), clientId)));
            }
        } catch (RuntimeException e) {
            held.forEach(HeldEvents::release);
            throw e;
        }
        List<Flux<ChoiceEvent>> choices = new ArrayList<>(held.size());
        for (int i = 0; i < held.size(); i++) {
            int index = i;
            choices.add(held.get(i).events().map(e -> new ChoiceEvent(index, e)));
        }
        Flux<ChoiceEvent> events = choices.size() == 1 ? choices.get(0) : Flux.merge(choices);
        return write(p, events, exchange).doFinally(signal -> held.forEach(HeldEvents::release));
    }

    /** A request's events, read at most once, and cancelled when the response ends whether or not it read them. */
    private static final class HeldEvents {
        private final Flux<GenerationEvent> admitted;
        private final AtomicBoolean taken = new AtomicBoolean();
        private final AtomicReference<Subscription> subscription = new AtomicReference<>();

        HeldEvents(Flux<GenerationEvent> admitted) {
            this.admitted = admitted;
        }

        Flux<GenerationEvent> events() {
            return Flux.defer(() -> taken.compareAndSet(false, true)
                    ? admitted.doOnSubscribe(subscription::set) : Flux.empty());
        }

        /** After the response ended: nothing reads the events any more, so a cancel is all that can still happen. */
        void release() {
            if (taken.compareAndSet(false, true)) {
                admitted.subscribe(e -> {}, e -> {}).dispose();
            } else if (subscription.get() != null) {
                subscription.get().cancel(); // a no-op on events that already ended
            }
        }
    }

    private Mono<Void> write(Prepared p, Flux<ChoiceEvent> events, ServerWebExchange exchange) {
        ServerHttpResponse response = exchange.getResponse();
        int n = p.prompts.size();
        if (!p.params.stream()) {
            return events.collectList().flatMap(list -> {
                StringBuilder[] texts = new StringBuilder[n];
                GenerationEvent[] lasts = new GenerationEvent[n];
                for (ChoiceEvent e : list) {
                    if (texts[e.index] == null) {
                        texts[e.index] = new StringBuilder();
                    }
                    texts[e.index].append(e.event.text());
                    if (e.event.isLast()) {
                        lasts[e.index] = e.event;
                    }
                }
                List<StreamFormat.Finished> finished = new ArrayList<>(n);
                List<Usage> usages = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    finished.add(new StreamFormat.Finished(texts[i].toString(), lasts[i].finishReason().wireName()));
                    usages.add(lasts[i].usage());
                }
                Object whole = p.format.whole(p.header, finished, CombinedUsage.of(usages));
                response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
                return response.writeWith(Mono.just(response.bufferFactory().wrap(json.writeValueAsBytes(whole))));
            });
        }
        response.getHeaders().setContentType(MediaType.TEXT_EVENT_STREAM);
        response.getHeaders().setCacheControl("no-cache");
        response.getHeaders().set("X-Accel-Buffering", "no");
        // the opening chunks (chat's role) go out with the first event, not before: while the request is queued its
        // stream carries keep-alive comments only, which stop at the first real frame
        boolean[] opened = {false}; // concatMap runs one event at a time
        Usage[] usages = new Usage[n];
        int[] finished = {0};
        Flux<Object> chunks = events.concatMap(c -> {
            GenerationEvent e = c.event;
            Object chunk = p.format.chunk(p.header, c.index, e.text(), e.isLast() ? e.finishReason().wireName() : null);
            Flux<Object> out = e.text().isEmpty() && !e.isLast() ? Flux.empty() : Flux.just(chunk);
            if (e.isLast()) {
                usages[c.index] = e.usage();
                if (++finished[0] == n && p.params.includeUsage()) {
                    out = Flux.just(chunk, p.format.usageChunk(p.header, CombinedUsage.of(List.of(usages))));
                }
            }
            if (opened[0]) {
                return out;
            }
            opened[0] = true;
            return Flux.concat(Flux.fromIterable(p.format.opening(p.header)), out);
        });
        Flux<String> lines = chunks.map(json::writeValueAsString)
                .onErrorResume(error -> Mono.just(json.writeValueAsString(streamError(error).body())))
                .concatWithValues("[DONE]")
                .map(line -> "data: " + line + "\n\n");
        return response.writeAndFlushWith(withKeepAlive(lines).map(frame -> Mono.just(response.bufferFactory()
                .wrap(frame.getBytes(StandardCharsets.UTF_8)))));
    }

    /**
     * A queued request's stream answers at once (headers and an SSE comment), and gets a comment every
     * {@code stream-keep-alive} until its first event, so clients and proxies see it alive while it waits.
     */
    private Flux<String> withKeepAlive(Flux<String> frames) {
        // a client that reads nothing gets no backlog of comments: ticks without demand are dropped. The interval
        // stops at the first frame, but a tick already on its way can still reach the merge after it (seen in CI:
        // a comment between a stream's error event and its [DONE]); the merge's output is serial, so a plain flag
        // there drops any comment that comes after the first real frame
        boolean[] framed = {false};
        return frames.publish(shared -> Flux.merge(shared, Flux.interval(Duration.ZERO, keepAlive)
                .onBackpressureDrop().map(tick -> KEEP_ALIVE).takeUntilOther(shared.take(1))))
                .filter(frame -> {
                    if (frame != KEEP_ALIVE) {
                        framed[0] = true;
                        return true;
                    }
                    return !framed[0];
                });
    }

    private GenerationEngine readyEngine() {
        return gateway.readyEngine();
    }

    /** The served model's id; a request naming another model gets 404. */
    static String servedModel(CompletionParams params, GenerationEngine engine) {
        String served = engine.modelInfo().id();
        if (params.model() != null && !params.model().equals(served)) {
            throw ApiError.modelNotFound(params.model());
        }
        return served;
    }

    static int[] checkedIds(int[] ids, int vocabSize) {
        for (int id : ids) {
            if (id >= vocabSize) {
                throw ApiError.invalid("prompt", "token id " + id + " is outside the vocabulary (" + vocabSize + ")");
            }
        }
        return ids;
    }

    /** An error after the stream started can only be told in the stream: one error event, then [DONE]. */
    private static ApiError streamError(Throwable error) {
        if (error instanceof Rejection r) {
            return ApiErrorHandler.fromRejection(r);
        }
        if (error instanceof io.kvpilot.serving.InvalidRequestException e) {
            return ApiError.invalid(e.param(), e.getMessage());
        }
        return new ApiError(org.springframework.http.HttpStatus.INTERNAL_SERVER_ERROR, "server_error",
                error.getMessage(), null, "engine_error", null);
    }
}
