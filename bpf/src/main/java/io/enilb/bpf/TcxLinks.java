package io.enilb.bpf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import io.enilb.bpf.Tc.Direction;
import jnr.ffi.Pointer;

/**
 * enilb's tc programs as tcx links (Linux 6.6 and later): the device runs them itself, with no
 * clsact qdisc and no classifier in between. One link per pod device and direction, pinned under
 * {@code <pin root>/tcx/<netns cookie>/<direction>-<device>}, so that it outlives the daemon as a
 * clsact filter does; a daemon that starts again swaps the program inside the pinned link
 * (BPF_LINK_UPDATE), with no moment untranslated. enilb's link goes first on its hook
 * (BPF_F_BEFORE), where its clsact filter has the first priority; a packet that is not enilb's
 * (TC_ACT_UNSPEC, which tcx calls TCX_NEXT) goes on to the next tcx program and then to clsact.
 *
 * <p>A link whose device went without a detach (the pod's namespace deleted first) is defunct:
 * it holds nothing but its pin, which {@link #releaseDefunct()} removes. What touches the pins is
 * synchronized (a sweep must not remove a directory a new pin is about to go into); making a link,
 * which waits in the kernel, is not.
 */
class TcxLinks {
    static final String DIR = "tcx";
    /** BPF_F_BEFORE with no relative program: first on the hook. */
    private static final int BPF_F_BEFORE = 1 << 3;
    /** struct bpf_link_create_opts as far as flags: sz, flags and padding. */
    private static final int CREATE_OPTS_SIZE = 16;
    /** struct bpf_link_info ({@link Bpf#linkInfo}): prog_id, then the tcx member of the union at 16. */
    private static final int LI_PROG_ID = 8;
    private static final int LI_TCX_IFINDEX = 16;
    private static final int LI_TCX_ATTACH_TYPE = 20;

    private final Bpf bpf = Bpf.get();
    private final Path root;

    /** The links pinned under {@code pinRoot} (a BPF file system directory). */
    TcxLinks(Path pinRoot) {
        this.root = pinRoot.resolve(DIR);
    }

    /** What the kernel says of a pinned link: its program, and its device (0 once the device is gone). */
    private record Link(int programId, int ifindex, int attachType) {
        /** Whether it is live on device {@code dev}'s hook {@code direction}. */
        boolean on(int dev, Direction direction) {
            return ifindex == dev && attachType == direction.tcxAttachType;
        }
    }

    /** What {@link #withLink} does with an open pinned link. */
    private interface LinkUse<T> {
        T apply(int linkFd, Link link);
    }

    /** {@code use} applied to the link pinned at {@code pin}, or {@code absent} when there is none to open. */
    private <T> T withLink(Path pin, T absent, LinkUse<T> use) {
        int fd = Files.exists(pin) ? bpf.lib.bpf_obj_get(pin.toString()) : -1;
        if (fd < 0) {
            return absent;
        }
        try {
            Pointer info = bpf.linkInfo(fd, "link " + pin);
            return use.apply(fd, new Link(info.getInt(LI_PROG_ID), info.getInt(LI_TCX_IFINDEX),
                    info.getInt(LI_TCX_ATTACH_TYPE)));
        } finally {
            bpf.libc.close(fd);
        }
    }

    /**
     * Swaps {@code program} into enilb's pinned link on the hook of device {@code ifindex} in the
     * namespace {@code cookie} names (the calling thread's): in place, no packet without it.
     *
     * @return false when there is no such link (a pin left for a device that went is removed)
     */
    synchronized boolean update(long cookie, int ifindex, String device, Direction direction, BpfProgram program) {
        Path pin = pin(cookie, device, direction);
        boolean updated = withLink(pin, false, (fd, link) -> {
            if (!link.on(ifindex, direction)) {
                return false;
            }
            bpf.check(bpf.lib.bpf_link_update(fd, program.fd(), null), "bpf_link_update " + pin + " to " + program);
            return true;
        });
        if (!updated && BpfObject.unpin(pin)) { // made for a device that is gone, or that another now has the name of
            deleteIfEmpty(pin.getParent());
        }
        return updated;
    }

    /**
     * A new link of {@code program} on the hook, first on it, pinned. The kernel waits for an RCU
     * grace period before it returns (tens of milliseconds): not under the lock, so that other
     * pods' calls do not wait for it.
     *
     * @throws BpfException EINVAL from bpf_link_create when the kernel has no tcx (before 6.6)
     */
    void create(long cookie, int ifindex, String device, Direction direction, BpfProgram program) {
        Pointer opts = bpf.allocate(CREATE_OPTS_SIZE);
        opts.putLong(0, CREATE_OPTS_SIZE);
        opts.putInt(8, BPF_F_BEFORE);
        int fd = bpf.check(linkCreate(program.fd(), ifindex, direction.tcxAttachType, opts),
                "bpf_link_create tcx " + direction + " " + program + " on " + device);
        try {
            // a link that is not pinned goes with its last fd: closed below, it detaches again
            pin(fd, pin(cookie, device, direction));
        } finally {
            bpf.libc.close(fd);
        }
    }

    private synchronized void pin(int linkFd, Path pin) {
        BpfObject.unpin(pin); // a pin left for a device that went
        createDirectory(pin.getParent());
        bpf.check(bpf.lib.bpf_obj_pin(linkFd, pin.toString()), "bpf_obj_pin " + pin);
    }

    /** bpf_link_create(2) of a tcx link; a test stands in here for a kernel without tcx. */
    int linkCreate(int programFd, int ifindex, int attachType, Pointer opts) {
        return bpf.lib.bpf_link_create(programFd, ifindex, attachType, opts);
    }

    /** Removes enilb's link from the hook (unpinned, the kernel detaches it); false when there was none. */
    synchronized boolean detach(long cookie, String device, Direction direction) {
        Path pin = pin(cookie, device, direction);
        boolean had = BpfObject.unpin(pin);
        deleteIfEmpty(pin.getParent());
        return had;
    }

    /** Removes every link of the namespace {@code cookie} names, live or not (unpinned, a live one detaches). */
    synchronized void detachAll(long cookie) {
        Path dir = root.resolve(Long.toUnsignedString(cookie));
        for (Path pin : list(dir)) {
            BpfObject.unpin(pin);
        }
        deleteIfEmpty(dir);
    }

    /** The program in enilb's live link on the hook of device {@code ifindex}, or null when there is none. */
    synchronized ProgramInfo query(long cookie, int ifindex, String device, Direction direction) {
        return withLink(pin(cookie, device, direction), null, (fd, link) ->
                link.on(ifindex, direction) && link.programId != 0 ? ProgramInfo.ofId(link.programId) : null);
    }

    /**
     * Removes the pins of the links whose device is gone (a pod deleted without a detach); their
     * namespace's directory goes when it is empty.
     *
     * @return how many were removed
     */
    synchronized int releaseDefunct() {
        int released = 0;
        for (Path netnsDir : list(root)) {
            for (Path pin : list(netnsDir)) {
                // one that cannot be opened was removed meanwhile, or is no BPF object: not ours to judge
                if (withLink(pin, false, (fd, link) -> link.ifindex == 0) && BpfObject.unpin(pin)) {
                    released++;
                }
            }
            deleteIfEmpty(netnsDir);
        }
        return released;
    }

    /** Removes every tcx link pinned under {@code pinRoot}, detaching the live ones, and their directories. */
    static void releaseAll(Path pinRoot) {
        Path dir = pinRoot.resolve(DIR);
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new BpfException("remove tcx links under " + dir, e.toString());
        }
    }

    private Path pin(long cookie, String device, Direction direction) {
        return root.resolve(Long.toUnsignedString(cookie)).resolve(direction + "-" + device);
    }

    private static List<Path> list(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.toList();
        } catch (IOException e) {
            throw new BpfException("list " + dir, e.toString());
        }
    }

    private static void createDirectory(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new BpfException("create " + dir, e.toString());
        }
    }

    private static void deleteIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (java.nio.file.DirectoryNotEmptyException e) {
            // other links of the namespace stay
        } catch (IOException e) {
            throw new BpfException("remove " + dir, e.toString());
        }
    }
}
