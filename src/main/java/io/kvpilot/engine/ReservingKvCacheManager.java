package io.kvpilot.engine;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvFootprint;
import java.util.function.Supplier;

/**
 * Admission's KV arithmetic: admitted sequences reserve their predicted peak bytes (the engine's exact footprint of
 * prompt plus {@code max_tokens} after compression, block rounding and compaction copies included) and give them
 * back when they leave. Since a sequence never holds more than it reserved, the reservations never passing the budget
 * means the engine's pool — which enforces the same budget as a hard limit — never refuses an allocation. Engine
 * thread only.
 */
final class ReservingKvCacheManager implements KvCacheManager {

    private final long budgetBytes;
    private final Supplier<GenerationEngine> engine;
    private volatile long reservedBytes; // written by the engine thread only; read by others

    ReservingKvCacheManager(long budgetBytes, Supplier<GenerationEngine> engine) {
        this.budgetBytes = budgetBytes;
        this.engine = engine;
    }

    @Override
    public boolean tryReserve(long bytes) {
        if (reservedBytes + bytes > budgetBytes) {
            return false;
        }
        reservedBytes += bytes;
        return true;
    }

    @Override
    public boolean tryReplan(long oldBytes, long newBytes) {
        if (newBytes > oldBytes && reservedBytes - oldBytes + newBytes > budgetBytes) {
            return false;
        }
        reservedBytes += newBytes - oldBytes;
        return true;
    }

    @Override
    public void release(long bytes) {
        reservedBytes -= bytes;
        if (reservedBytes < 0) {
            throw new IllegalStateException("KV reservations went negative: " + reservedBytes);
        }
    }

    @Override
    public long reservedBytes() {
        return reservedBytes;
    }

    @Override
    public long budgetBytes() {
        return budgetBytes;
    }

    @Override
    public long bytesInUse() {
        return engine.get().kvBytesInUse();
    }

    @Override
    public KvFootprint predict(KvCompressionSpec spec, int promptTokens, int maxTokens) {
        return engine.get().predictKv(spec, promptTokens, maxTokens);
    }

    @Override
    public void free(Sequence sequence) {
        engine.get().release(sequence);
    }
}
