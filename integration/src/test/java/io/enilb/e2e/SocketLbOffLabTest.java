package io.enilb.e2e;

/** {@link ServicePathLab} with {@code socket-lb: off}: the tc programs translate every packet, as before. */
class SocketLbOffLabTest extends ServicePathLab {
    @Override
    String socketLb() {
        return "off";
    }

    @Override
    boolean atSocket() {
        return false;
    }
}
