package io.kvpilot.kvcache;

/** An allocation would take the KV pool past its budget; nothing was allocated. */
public final class KvBudgetExceededException extends RuntimeException {

    public KvBudgetExceededException(long requested, long inUse, long budget) {
        super("KV budget exceeded: " + requested + " bytes requested, " + inUse + " in use, budget " + budget);
    }
}
