package io.kvpilot.serving;

import io.kvpilot.serving.Rejection.Reason;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.context.SmartLifecycle;

/**
 * Starts the engine thread (which loads and warms the model in the background, readiness DOWN meanwhile); a model
 * that cannot load runs {@code onLoadFailure} (the application exits non-zero). On shutdown it stops taking requests
 * and drains before the web server's graceful phase: admitted requests get {@code drainGrace} to finish, then every
 * one left ends with a {@code shutting_down} error (a 503, or an error event and {@code [DONE]} on a stream), so the
 * web server only has complete responses left to flush. The engine closes after the web server has stopped. A context
 * stopped and started again (Spring's test context pausing) resumes serving.
 */
final class SchedulerLifecycle implements SmartLifecycle, DisposableBean {

    private static final Logger log = LoggerFactory.getLogger(SchedulerLifecycle.class);
    /** How long the ended requests' final events get to reach the scheduler's subscribers. */
    private static final Duration END_WAIT = Duration.ofSeconds(5);

    private final Scheduler scheduler;
    private final Duration drainGrace;
    private final Duration retryAfter;
    private final Runnable onLoadFailure;
    private volatile boolean running;

    SchedulerLifecycle(Scheduler scheduler, Duration drainGrace, Duration retryAfter, Runnable onLoadFailure) {
        this.scheduler = scheduler;
        this.drainGrace = drainGrace;
        this.retryAfter = retryAfter;
        this.onLoadFailure = onLoadFailure;
    }

    @Override
    public void start() {
        scheduler.start();
        scheduler.resume();
        scheduler.loaded().whenComplete((ok, failure) -> {
            if (failure != null) {
                onLoadFailure.run();
            }
        });
        running = true;
    }

    /** Runs before the web server's graceful shutdown phase (a higher phase stops earlier). */
    @Override
    public void stop() {
        scheduler.beginDrain();
        if (!scheduler.awaitIdle(drainGrace)) {
            log.warn("Shutdown: {} requests still in flight after the drain grace of {}; ending them",
                    scheduler.inFlightCount(), drainGrace);
            scheduler.endInFlight(new Rejection(Reason.SHUTTING_DOWN, "The server is shutting down and could not "
                    + "finish this request within its drain grace period; retry it", retryAfter));
            scheduler.awaitIdle(END_WAIT);
        }
        running = false;
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int getPhase() {
        return SmartLifecycle.DEFAULT_PHASE;
    }

    @Override
    public void destroy() {
        scheduler.close(drainGrace);
    }
}
