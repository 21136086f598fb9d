package io.kvpilot.engine;

/**
 * What the engine's last {@link GenerationEngine#step} (or lone prefill or decode call) did: its passes, tokens,
 * sequences, the cache entries its attention read, and the route it took. One object per engine, overwritten by each
 * call and read by the scheduler right after it on the same thread, so a step allocates nothing for it.
 */
public final class EngineStepStats {

    /** What an engine that does not report steps answers: no pass, no route. */
    public static final EngineStepStats UNREPORTED = new EngineStepStats();

    private int passes;
    private int javaPasses;
    private int tokens;
    private int sequences;
    private long kvEntriesRead;
    private ForwardRoute route;

    /** Passes of the model the step ran (a long prompt is prefilled in several). */
    public int passes() {
        return passes;
    }

    /** Those of {@link #passes()} that ran on the Java pass. */
    public int javaPasses() {
        return javaPasses;
    }

    /** Tokens the passes computed: prompt tokens plus one per decoding sequence. */
    public int tokens() {
        return tokens;
    }

    /** Sequences the step ran (each counted once, however many passes its prompt took). */
    public int sequences() {
        return sequences;
    }

    /**
     * Cache entries the step's attention read, summed over its tokens (a token attends over the entries before it and
     * itself), per layer on average: one layer's worth, not times layers.
     */
    public long kvEntriesRead() {
        return kvEntriesRead;
    }

    /** The step's route: its first libtorch pass's, else {@link ForwardRoute#JAVA}; null when no pass ran. */
    public ForwardRoute route() {
        return route;
    }

    public void reset() {
        passes = 0;
        javaPasses = 0;
        tokens = 0;
        sequences = 0;
        kvEntriesRead = 0;
        route = null;
    }

    public void pass(ForwardRoute passRoute, int passTokens, long entries) {
        passes++;
        tokens += passTokens;
        kvEntriesRead += entries;
        if (passRoute.isJava()) {
            javaPasses++;
            if (route == null) {
                route = passRoute;
            }
        } else if (route == null || route.isJava()) {
            route = passRoute;
        }
    }

    public void sequences(int count) {
        sequences = count;
    }

    @Override
    public String toString() {
        return "EngineStepStats[passes=" + passes + ", java=" + javaPasses + ", tokens=" + tokens + ", sequences="
                + sequences + ", kvEntriesRead=" + kvEntriesRead + ", route=" + route + "]";
    }
}
