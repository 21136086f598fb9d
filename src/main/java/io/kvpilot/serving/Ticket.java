package io.kvpilot.serving;

import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.policy.PolicyDecision;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;

/**
 * One submitted request from submission to its last event: the ordered sink its client reads, the cancel flag the
 * client's disconnect sets (from any thread), the compression it runs with (chosen at admission for {@code auto}) and
 * the timestamps the latency metrics are computed from. Everything but {@link #cancel()} is touched only by the engine
 * thread.
 */
final class Ticket {

    final String id;
    final GenerationRequest request;
    long predictedBytes; // the KV reservation: set at admission, lowered after prefill (Scheduler#lowerToPeakAfterPrefill) and by a recompression, moved by Scheduler#replan
    final long submittedNanos;
    final long deadlineNanos;

    private final Sinks.Many<GenerationEvent> sink = Sinks.many().unicast().onBackpressureBuffer();
    private volatile boolean cancelled;
    private volatile Sequence sequence;
    KvCompressionSpec spec;
    double predictedTpotSeconds = Double.NaN; // the controller's, at its decision
    String decidedBy;
    double predictedQuality = Double.NaN;
    PolicyDecision decision; // the controller's latest, for an inspected request's report
    long decidedAtReservedBytes = -1; // the reservations a controller decision saw; -1 before any
    long reclaimTriedAt = -1; // the reservations a reclaim for this request found too few running bytes under
    long admittedNanos;
    long firstTokenNanos;
    long lastTokenNanos;
    RuntimeException failure;

    Ticket(String id, GenerationRequest request, long predictedBytes, long submittedNanos, long deadlineNanos) {
        this.id = id;
        this.request = request;
        this.predictedBytes = predictedBytes;
        this.spec = request.compression();
        this.decidedBy = request.decidedBy();
        this.submittedNanos = submittedNanos;
        this.deadlineNanos = deadlineNanos;
    }

    /**
     * The request's events, in order; cancelling the subscription (client gone) cancels the sequence. Subscribers
     * run on Reactor's parallel scheduler, never on the engine thread: JSON and socket writes overlap the next step.
     */
    Flux<GenerationEvent> events() {
        return sink.asFlux().publishOn(Schedulers.parallel()).doOnCancel(this::cancel);
    }

    /** Any thread: the engine thread stops the sequence and frees its KV at the next step. */
    void cancel() {
        cancelled = true;
        Sequence s = sequence;
        if (s != null) {
            s.requestCancel();
        }
    }

    boolean isCancelled() {
        return cancelled || (sequence != null && sequence.isCancelRequested());
    }

    void admit(Sequence admitted, long nowNanos) {
        this.sequence = admitted;
        this.admittedNanos = nowNanos;
        if (cancelled) {
            admitted.requestCancel();
        }
    }

    Sequence sequence() {
        return sequence;
    }

    int promptLength() {
        return request.promptIds().length;
    }

    void emit(String text) {
        sink.tryEmitNext(new GenerationEvent(text, null, null));
    }

    void complete(String text, FinishReason reason, Usage usage) {
        sink.tryEmitNext(new GenerationEvent(text, reason, usage));
        sink.tryEmitComplete();
    }

    void fail(RuntimeException error) {
        sink.tryEmitError(error);
    }
}
