package io.enilb.cni.plugin;

import java.security.Provider;
import java.security.SecureRandomParameters;
import java.security.SecureRandomSpi;

/**
 * The only security provider of enilb-cni's own runtime (its conf/security/java.security names
 * nothing else). The JDK's unix-domain sockets take a SecureRandom when their class loads, for the
 * names of sockets bound without a path; the plugin never binds one, it only connects, yet loading
 * the JDK's providers for it cost every pod's ADD about a tenth of the plugin's CPU time. This
 * provider answers that request cheaply. The plugin does no cryptography: nothing else asks it for
 * randomness. (In its runtime the plugin normally connects through {@link UnixExchange}'s JNI
 * library and opens no JDK socket at all; this keeps the JDK's way cheap where it is used.)
 */
public final class SocketNameRandomProvider extends Provider {
    private static final long serialVersionUID = 1L;

    public SocketNameRandomProvider() {
        super("EnilbCni", "1", "random names for unix sockets enilb-cni never binds");
        putService(new Service(this, "SecureRandom", "NativePRNGNonBlocking", Names.class.getName(), null, null));
    }

    /** Not for secrets: names of temporary sockets, which enilb-cni does not create. */
    public static final class Names extends SecureRandomSpi {
        private static final long serialVersionUID = 1L;
        /** xorshift64 state; any non-zero start will do (a name clash only fails a bind, retried). */
        private long state = System.nanoTime() | 1;

        /**
         * The constructor {@code SecureRandom.getInstance} looks for first: without it the JDK
         * formats a NoSuchMethodException message (with streams and lambdas) on every run.
         */
        public Names(SecureRandomParameters params) {
            super(params);
        }

        public Names() {
        }

        @Override
        protected void engineSetSeed(byte[] seed) {
            // nothing to seed: see the class comment
        }

        @Override
        protected void engineNextBytes(byte[] bytes) {
            for (int i = 0; i < bytes.length; i++) {
                state ^= state << 13;
                state ^= state >>> 7;
                state ^= state << 17;
                bytes[i] = (byte) state;
            }
        }

        @Override
        protected byte[] engineGenerateSeed(int numBytes) {
            byte[] seed = new byte[numBytes];
            engineNextBytes(seed);
            return seed;
        }
    }
}
