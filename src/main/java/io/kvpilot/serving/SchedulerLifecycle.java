package io.kvpilot.serving;

import java.time.Duration;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.context.SmartLifecycle;

/**
 * Starts the engine thread (which loads and warms the model in the background, readiness DOWN meanwhile). On
 * shutdown it stops taking requests before the web server's graceful phase, so in-flight requests drain; the engine
 * closes only after the web server has stopped. A context stopped and started again (Spring's test context pausing)
 * resumes serving.
 */
final class SchedulerLifecycle implements SmartLifecycle, DisposableBean {

    private final Scheduler scheduler;
    private final Duration drainGrace;
    private volatile boolean running;

    SchedulerLifecycle(Scheduler scheduler, Duration drainGrace) {
        this.scheduler = scheduler;
        this.drainGrace = drainGrace;
    }

    @Override
    public void start() {
        scheduler.start();
        scheduler.resume();
        running = true;
    }

    /** Runs before the web server's graceful shutdown phase (a higher phase stops earlier). */
    @Override
    public void stop() {
        scheduler.beginDrain();
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
