/**
 * enilb-cni as a module, so that jlink puts it into the plugin's own runtime (enilb-jre): its
 * classes then sit in the runtime image and in its class-data archive, wherever it is installed.
 * Compiled at package time against the plugin's classes (the daemon's jar is not modular).
 */
module io.enilb.cni {
    // java.base instantiates the provider's SecureRandom by reflection
    exports io.enilb.cni.plugin to java.base;
    provides java.security.Provider with io.enilb.cni.plugin.SocketNameRandomProvider;
}
