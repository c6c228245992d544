/**
 * enilb-cni as a module, so that jlink puts it into the plugin's own runtime (enilb-jre): its
 * classes then sit in the runtime image and in its class-data archive, wherever it is installed.
 * Compiled at package time against the plugin's classes (the daemon's jar is not modular).
 *
 * <p>The package is exported to all: that makes the module a root of the runtime's boot layer, so
 * the launcher starts the main class by name. Naming the main module instead ({@code -m}) would
 * turn off the archived module graph of the class-data archive, and cost every run rebuilding it.
 */
module io.enilb.cni {
    // java.base also instantiates the provider's SecureRandom by reflection
    exports io.enilb.cni.plugin;
    provides java.security.Provider with io.enilb.cni.plugin.SocketNameRandomProvider;
}
