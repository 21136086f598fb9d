package io.kvpilot.serving;

import io.kvpilot.engine.GenerationEngine;

/** Loads the model; called once, on the scheduler's engine thread, so loading never blocks start-up or Netty. */
@FunctionalInterface
public interface EngineFactory {

    GenerationEngine load() throws Exception;
}
