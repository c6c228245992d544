package io.enilb.bpf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * enilb's cgroup socket programs (bpf/sock.bpf.c) on the cgroup v2 root: one BPF link per hook,
 * pinned under {@code <pin root>/links}, so that the hooks outlive the daemon as the tc filters
 * do. A daemon that starts again swaps the program inside each pinned link (BPF_LINK_UPDATE):
 * there is no moment without translation and no second copy of a hook. The programs translate
 * only sockets of namespaces in {@code enilb_sockscope4_v2} (IPv4) and {@code enilb_sockscope6_v2}
 * (IPv6); everything else passes untouched.
 */
public final class SocketHooks {
    private static final Logger LOG = LoggerFactory.getLogger(SocketHooks.class);
    /** struct bpf_link_info ({@link Bpf#linkInfo}): id, prog_id, then the cgroup member of the union at 16. */
    private static final int LI_ID = 4;
    private static final int LI_PROG_ID = 8;
    private static final int LI_CGROUP_ID = 16;
    private static final int LI_ATTACH_TYPE = 24;
    private static final String LINK_DIR = "links";

    /** The hooks, with the program that serves each and its enum bpf_attach_type value. */
    public enum Hook {
        CONNECT4("connect4", "enilb_connect4", 10),
        CONNECT6("connect6", "enilb_connect6", 11),
        SENDMSG4("sendmsg4", "enilb_sendmsg4", 14),
        SENDMSG6("sendmsg6", "enilb_sendmsg6", 15),
        RECVMSG4("recvmsg4", "enilb_recvmsg4", 19),
        RECVMSG6("recvmsg6", "enilb_recvmsg6", 20),
        GETPEERNAME4("getpeername4", "enilb_getpeername4", 29),
        GETPEERNAME6("getpeername6", "enilb_getpeername6", 30);

        private final String hookName;
        private final String program;
        private final int attachType;

        Hook(String hookName, String program, int attachType) {
            this.hookName = hookName;
            this.program = program;
            this.attachType = attachType;
        }

        /** The hook as cgroup attach points are called ({@code connect4} ...). */
        public String hookName() {
            return hookName;
        }

        /** The program that serves it. */
        public String program() {
            return program;
        }
    }

    /**
     * One hook as the kernel holds it.
     *
     * @param hook        connect4/6, sendmsg4/6, recvmsg4/6 or getpeername4/6
     * @param linkId      kernel link id
     * @param programId   kernel id of the program in the link
     * @param programName its name
     * @param cgroupId    the cgroup it is attached to (the root's id)
     * @param cgroup      that cgroup's path when it is this host's cgroup v2 root, else "cgroup id N"
     */
    public record Attached(String hook, int linkId, int programId, String programName, long cgroupId, String cgroup) {
    }

    private final Bpf bpf = Bpf.get();
    private final Path linkDir;

    /** The hooks pinned under {@code pinRoot} (a BPF file system directory). */
    public SocketHooks(Path pinRoot) {
        this.linkDir = pinRoot.resolve(LINK_DIR);
    }

    /**
     * Attaches (or, where a pinned link exists, replaces) every hook at {@code cgroupRoot}.
     *
     * @param programs the loaded program of each name (Datapath::program)
     * @return what the kernel now holds
     * @throws BpfException when the cgroup cannot be opened or the kernel refuses a hook; the
     *                      hooks attached before the failure are detached again
     */
    public List<Attached> attach(Path cgroupRoot, Function<String, BpfProgram> programs) {
        try {
            Files.createDirectories(linkDir);
        } catch (IOException e) {
            throw new BpfException("create " + linkDir, e.toString());
        }
        int cgroupFd = bpf.checkLibc(bpf.libc.open(cgroupRoot.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC),
                "open cgroup v2 root " + cgroupRoot);
        List<Attached> out = new ArrayList<>();
        try {
            for (Hook hook : Hook.values()) {
                out.add(attachOne(hook, cgroupFd, cgroupRoot, programs.apply(hook.program)));
            }
            return out;
        } catch (RuntimeException e) {
            detach();
            throw e;
        } finally {
            bpf.libc.close(cgroupFd);
        }
    }

    private Attached attachOne(Hook hook, int cgroupFd, Path cgroupRoot, BpfProgram program) {
        Path pin = linkDir.resolve(hook.hookName);
        if (Files.exists(pin)) {
            int linkFd = bpf.check(bpf.lib.bpf_obj_get(pin.toString()), "bpf_obj_get " + pin);
            try {
                Attached old = info(hook, linkFd);
                if (old.cgroupId() == cgroupId(cgroupRoot)) {
                    bpf.check(bpf.lib.bpf_link_update(linkFd, program.fd(), null),
                            "bpf_link_update " + hook.hookName + " to " + program);
                    LOG.info("socket hook {} on {}: program replaced in pinned link {}", hook.hookName, cgroupRoot,
                            old.linkId());
                    return info(hook, linkFd);
                }
                LOG.info("socket hook {}: pinned link {} is on another cgroup; attaching anew at {}", hook.hookName,
                        old.linkId(), cgroupRoot);
                bpf.lib.bpf_link_detach(linkFd);
                BpfObject.unpin(pin);
            } finally {
                bpf.libc.close(linkFd);
            }
        }
        int linkFd = bpf.check(bpf.lib.bpf_link_create(program.fd(), cgroupFd, hook.attachType, null),
                "bpf_link_create " + hook.hookName + " " + program + " at " + cgroupRoot);
        try {
            bpf.check(bpf.lib.bpf_obj_pin(linkFd, pin.toString()), "bpf_obj_pin " + pin);
            LOG.info("socket hook {} attached at {} ({})", hook.hookName, cgroupRoot, program);
            return info(hook, linkFd);
        } finally {
            bpf.libc.close(linkFd);
        }
    }

    /** The cgroup id: in cgroup v2 the inode number of its directory (what bpf_link_info reports). */
    private static long cgroupId(Path cgroup) {
        try {
            return (Long) Files.getAttribute(cgroup, "unix:ino");
        } catch (IOException | UnsupportedOperationException e) {
            throw new BpfException("stat cgroup " + cgroup, e.toString());
        }
    }

    /** Detaches every hook and removes its pin; hooks that are not there are no error. */
    public void detach() {
        for (Hook hook : Hook.values()) {
            Path pin = linkDir.resolve(hook.hookName);
            if (!Files.exists(pin)) {
                continue;
            }
            int linkFd = bpf.lib.bpf_obj_get(pin.toString());
            if (linkFd >= 0) {
                bpf.lib.bpf_link_detach(linkFd);
                bpf.libc.close(linkFd);
            }
            BpfObject.unpin(pin);
            LOG.info("socket hook {} detached", hook.hookName);
        }
        try {
            Files.deleteIfExists(linkDir);
        } catch (IOException e) {
            LOG.warn("socket hooks: {} not removed: {}", linkDir, e.toString());
        }
    }

    /** The hooks the pins hold now (a detached link whose pin stays is left out). */
    public List<Attached> attached() {
        List<Attached> out = new ArrayList<>();
        for (Hook hook : Hook.values()) {
            Path pin = linkDir.resolve(hook.hookName);
            if (!Files.exists(pin)) {
                continue;
            }
            int linkFd = bpf.lib.bpf_obj_get(pin.toString());
            if (linkFd < 0) {
                continue;
            }
            try {
                Attached a = info(hook, linkFd);
                if (a.programId() != 0) {
                    out.add(a);
                }
            } finally {
                bpf.libc.close(linkFd);
            }
        }
        return out;
    }

    private Attached info(Hook hook, int linkFd) {
        Pointer info = bpf.linkInfo(linkFd, "link " + hook.hookName);
        int programId = info.getInt(LI_PROG_ID);
        ProgramInfo program = programId == 0 ? null : ProgramInfo.ofId(programId);
        if (info.getInt(LI_ATTACH_TYPE) != hook.attachType && programId != 0) {
            throw new BpfException("link " + hook.hookName, "pinned link has attach type " + info.getInt(LI_ATTACH_TYPE));
        }
        long cgroupId = info.getLong(LI_CGROUP_ID);
        String cgroup = CgroupV2.root().filter(root -> cgroupId(root) == cgroupId).map(Path::toString)
                .orElse("cgroup id " + cgroupId);
        // the kernel keeps 15 characters of a name: enilb_getpeername4 shows as enilb_getpeerna
        String name = program == null ? "" : hook.program.startsWith(program.name()) ? hook.program : program.name();
        return new Attached(hook.hookName, info.getInt(LI_ID), programId, name, cgroupId, cgroup);
    }

}
