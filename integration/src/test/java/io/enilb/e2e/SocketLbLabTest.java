package io.enilb.e2e;

/** {@link ServicePathLab} with {@code socket-lb: on}: Services translated at connect/sendmsg. */
class SocketLbLabTest extends ServicePathLab {
    @Override
    String socketLb() {
        return "on";
    }

    @Override
    boolean atSocket() {
        return true;
    }
}
