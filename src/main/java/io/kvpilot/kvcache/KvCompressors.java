package io.kvpilot.kvcache;

/**
 * Finds the compressor for a request's spec. The engine asks once per sequence. Issue 4 provides the registry of
 * named methods (and lets a user add one as a bean in the serving layer); until then {@link #NONE} applies no
 * compression to any spec.
 */
@FunctionalInterface
public interface KvCompressors {

    KvCompressors NONE = spec -> NoOpKvCompressor.INSTANCE;

    KvCompressor forSpec(KvCompressionSpec spec);
}
