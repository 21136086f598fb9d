package io.kvpilot.serving;

/**
 * Admission's KV arithmetic: admitted sequences reserve their predicted peak bytes (the engine's exact footprint of
 * prompt plus {@code max_tokens} after compression, block rounding and compaction copies included) and give them
 * back when they leave. Since a sequence never holds more than it reserved, the reservations never passing the budget
 * means the engine's pool — which enforces the same budget as a hard limit — never refuses an allocation. Engine
 * thread only.
 */
final class KvBudget {

    private final long budgetBytes;
    private volatile long reservedBytes; // written by the engine thread only; read by others

    KvBudget(long budgetBytes) {
        this.budgetBytes = budgetBytes;
    }

    boolean tryReserve(long bytes) {
        if (reservedBytes + bytes > budgetBytes) {
            return false;
        }
        reservedBytes += bytes;
        return true;
    }

    /**
     * A sequence's plan changed (another compression): its reservation moves from {@code oldBytes} to
     * {@code newBytes}. A smaller one always succeeds; a larger one only if the difference fits, else nothing changes.
     */
    boolean tryReplan(long oldBytes, long newBytes) {
        if (newBytes > oldBytes && reservedBytes - oldBytes + newBytes > budgetBytes) {
            return false;
        }
        reservedBytes += newBytes - oldBytes;
        return true;
    }

    void release(long bytes) {
        reservedBytes -= bytes;
        if (reservedBytes < 0) {
            throw new IllegalStateException("KV reservations went negative: " + reservedBytes);
        }
    }

    long reservedBytes() {
        return reservedBytes;
    }

    long budgetBytes() {
        return budgetBytes;
    }
}
