package io.kvpilot.serving;

/**
 * Admission's KV arithmetic: admitted sequences reserve their predicted bytes (an upper estimate over prompt plus
 * {@code max_tokens}, after compression) and give them back when they leave. Engine thread only.
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
