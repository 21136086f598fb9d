package io.kvpilot.api;

import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.serving.GenerationEvent;
import io.kvpilot.serving.GenerationRequest;
import io.kvpilot.serving.Rejection;
import io.kvpilot.serving.ServingGateway;
import io.kvpilot.serving.ServingProperties;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
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
    private final Duration keepAlive;

    CompletionController(ServingGateway gateway, RequestReader reader, JsonMapper json, ServingProperties properties) {
        this.gateway = gateway;
        this.reader = reader;
        this.json = json;
        this.keepAlive = properties.scheduler().streamKeepAlive();
    }

    @PostMapping("/v1/completions")
    Mono<Void> completions(@RequestBody(required = false) String body, ServerWebExchange exchange) {
        return Mono.fromCallable(() -> {
            GenerationEngine engine = readyEngine();
            JsonFields fields = reader.object(body);
            CompletionParams params = reader.params(fields, null);
            Object prompt = reader.prompt(fields);
            int[] ids = prompt instanceof String text ? engine.textCodec().encode(text, true)
                    : checkedIds((int[]) prompt, engine.modelInfo().vocabSize());
            return new Prepared(params, ids, servedModel(params, engine), "cmpl-", StreamFormat.TEXT);
        }).subscribeOn(Schedulers.boundedElastic()).flatMap(p -> Mono.defer(() -> generate(p, exchange)));
    }

    @PostMapping("/v1/chat/completions")
    Mono<Void> chat(@RequestBody(required = false) String body, ServerWebExchange exchange) {
        return Mono.fromCallable(() -> {
            GenerationEngine engine = readyEngine();
            JsonFields fields = reader.object(body);
            CompletionParams params = reader.params(fields, "max_completion_tokens");
            String prompt = ChatPrompts.render(engine, reader.messages(fields));
            int[] ids = engine.textCodec().encode(prompt, false);
            return new Prepared(params, ids, servedModel(params, engine), "chatcmpl-", StreamFormat.CHAT);
        }).subscribeOn(Schedulers.boundedElastic()).flatMap(p -> Mono.defer(() -> generate(p, exchange)));
    }

    private record Prepared(CompletionParams params, int[] ids, String model, String idPrefix, StreamFormat format) {}

    private Mono<Void> generate(Prepared p, ServerWebExchange exchange) {
        String clientId = exchange.getAttributeOrDefault(ApiKeyFilter.CLIENT_ID, "anonymous");
        Flux<GenerationEvent> admitted = gateway.generate(new GenerationRequest(p.ids, p.params.sampling(),
                p.params.compression(), p.params.decidedBy(), p.params.auto()), clientId);
        // From here the request holds a bulkhead permit and a place in the scheduler, given back when its events end
        // or are cancelled. Netty may end a response to a client that hung up without ever subscribing to the body,
        // or with an error that leaves the body's subscription open; either would hold them for good.
        HeldEvents held = new HeldEvents(admitted);
        return write(p, held.events(), exchange).doFinally(signal -> held.release());
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

    private Mono<Void> write(Prepared p, Flux<GenerationEvent> events, ServerWebExchange exchange) {
        String id = p.idPrefix + UUID.randomUUID().toString().replace("-", "");
        long created = Instant.now().getEpochSecond();
        ServerHttpResponse response = exchange.getResponse();
        if (!p.params.stream()) {
            return events.collectList().flatMap(list -> {
                StringBuilder text = new StringBuilder();
                list.forEach(e -> text.append(e.text()));
                GenerationEvent last = list.get(list.size() - 1);
                Object whole = p.format.whole(id, created, p.model, text.toString(),
                        last.finishReason().wireName(), last.usage());
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
        Flux<Object> chunks = events.concatMap(e -> {
            Object chunk = p.format.chunk(id, created, p.model, e.text(), e.isLast() ? e.finishReason().wireName() : null);
            Flux<Object> out = e.isLast() && p.params.includeUsage()
                    ? Flux.just(chunk, p.format.usageChunk(id, created, p.model, e.usage()))
                    : e.text().isEmpty() && !e.isLast() ? Flux.empty() : Flux.just(chunk);
            if (opened[0]) {
                return out;
            }
            opened[0] = true;
            return Flux.concat(Flux.fromIterable(p.format.opening(id, created, p.model)), out);
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
        // a client that reads nothing gets no backlog of comments: ticks without demand are dropped
        return frames.publish(shared -> Flux.merge(shared, Flux.interval(Duration.ZERO, keepAlive)
                .onBackpressureDrop().map(tick -> ": keep-alive\n\n").takeUntilOther(shared.take(1))));
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
