/*
 * The lab's VirtFusion guest: a tiny freestanding multiboot (v1) kernel that QEMU loads with
 * -kernel. It dirties guest memory at a set rate so that live-migration convergence,
 * auto-converge and post-copy behave as they do for a busy guest. No OS, no devices, no network.
 *
 * Parameters come from QEMU's fw_cfg (-fw_cfg name=opt/fleetops/dirty-rate,string=MIB_PER_S and
 * name=opt/fleetops/working-set,string=MIB). Rate 0 (or no fw_cfg file): the guest halts (idle,
 * no host CPU use).
 *
 * Pacing: the loop "write one whole page, then spin N times" is calibrated ONCE at boot against
 * the PIT (channel 2, one-shot, real time in QEMU), each measurement the most of three windows (a
 * vCPU starved by a busy host would otherwise rate itself slow and then write too fast for good).
 * After that the loop never looks at a clock, so when QEMU's auto-converge throttles the vCPU, the
 * guest really dirties fewer pages per second (a clock-paced loop would catch up and defeat the
 * throttle).
 *
 * Every word of a page changes on each pass, so XBZRLE cannot shrink a re-sent page.
 *
 * Status words at physical 0x9000 (read by the lab over QMP): magic, state, pages written
 * (low 32 bits), spin per page, calibrated full-speed pages/s, target pages/s, working-set pages.
 */
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define MB_MAGIC 0x1BADB002u
#define MB_FLAGS 0x00000000u

__attribute__((section(".multiboot"), used, aligned(4)))
static const u32 multiboot_header[3] = {MB_MAGIC, MB_FLAGS, (u32)(0u - MB_MAGIC - MB_FLAGS)};

u8 stack[16384] __attribute__((aligned(16), used));

struct status {
    u32 magic;          /* 0x464C4554 "FLET" once running */
    u32 state;          /* 1 calibrating, 2 dirtying, 3 idle (halted) */
    volatile u32 pages; /* pages written so far (wraps) */
    u32 spin;           /* spin iterations per page after calibration */
    u32 full_pps;       /* pages/s with no spin (what this vCPU can do at most) */
    u32 target_pps;     /* pages/s asked for */
    u32 wss_pages;      /* working-set size in pages */
    u32 passes;         /* completed passes over the working set */
};
#define STATUS ((volatile struct status *)0x9000)
#define WSS_BASE 0x00400000u  /* working set starts at 4 MiB (the kernel sits at 1 MiB) */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* ---- fw_cfg (I/O ports: selector 0x510, data 0x511) */
static void fw_select(u16 key) { outw(0x510, key); }
static u32 fw_read_be32(void) {
    u32 v = 0;
    for (int i = 0; i < 4; i++) v = (v << 8) | inb(0x511);
    return v;
}
static u16 fw_read_be16(void) { u16 v = inb(0x511); return (u16)((v << 8) | inb(0x511)); }

static int streq(const char *a, const char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

/* the decimal value of fw_cfg file `name`, or `dflt` if it is missing */
static u32 fw_number(const char *name, u32 dflt) {
    fw_select(0x19);  /* FW_CFG_FILE_DIR */
    u32 count = fw_read_be32();
    for (u32 i = 0; i < count; i++) {
        u32 size = fw_read_be32();
        u16 sel = fw_read_be16();
        (void)fw_read_be16();
        char fname[56];
        for (int j = 0; j < 56; j++) fname[j] = (char)inb(0x511);
        fname[55] = 0;
        if (streq(fname, name)) {
            fw_select(sel);
            u32 v = 0;
            for (u32 k = 0; k < size; k++) {
                u8 c = inb(0x511);
                if (c >= '0' && c <= '9') v = v * 10 + (u32)(c - '0');
                else break;
            }
            return v;
        }
    }
    return dflt;
}

/* ---- PIT channel 2 as a one-shot stopwatch: OUT2 (port 0x61 bit 5) goes high after `ticks` */
#define PIT_HZ 1193182u
static void pit_arm(u16 ticks) {
    outb(0x61, (u8)((inb(0x61) & ~0x02) | 0x01)); /* gate on, speaker off */
    outb(0x43, 0xB0);                          /* channel 2, lo/hi byte, mode 0 */
    outb(0x42, (u8)(ticks & 0xff));
    outb(0x42, (u8)(ticks >> 8));
}
static int pit_done(void) { return (inb(0x61) & 0x20) != 0; }

/* ---- the work */
static u32 cursor;   /* next page of the working set */
static u32 wss_pages;
static u32 pattern = 0x9E3779B9u;

static void write_page(void) {
    volatile u32 *p = (volatile u32 *)(WSS_BASE + cursor * 4096u);
    u32 v = pattern ^ (cursor * 2654435761u);
    for (int i = 0; i < 1024; i++) { p[i] = v; v = v * 1664525u + 1013904223u; }
    if (++cursor >= wss_pages) { cursor = 0; pattern += 0x01000193u; STATUS->passes++; }
    STATUS->pages++;
}
static void spin(u32 n) {
    for (u32 i = 0; i < n; i++) __asm__ volatile("" ::: "memory");
}

/* One timing: how many rounds of "write a page (if `pages`), spin `s`" fit in a 25 ms window, the most of
 * three windows. Time the host takes the vCPU away (a busy machine) only ever lowers a window's count, and a
 * low count would pace the loop too fast for good, so a starved window must not decide; the quickest of three
 * is the vCPU's own speed. */
#define WINDOW_TICKS 29830u   /* 25 ms */
#define WINDOWS_PER_S 40u
#define TRIES 3
static u32 timed(int pages, u32 s) {
    u32 best = 0;
    for (int t = 0; t < TRIES; t++) {
        u32 n = 0;
        pit_arm((u16)WINDOW_TICKS);
        while (!pit_done()) { if (pages) write_page(); spin(s); n++; }
        if (n > best) best = n;
    }
    return best;
}
/* pages written per window with `s` spins per page */
static u32 measure(u32 s) { return timed(1, s); }

static void halt_forever(void) {
    for (;;) __asm__ volatile("cli; hlt");
}

void kmain(void) {
    volatile u32 *words = (volatile u32 *)STATUS;
    for (unsigned i = 0; i < sizeof(struct status) / 4; i++) words[i] = 0;
    STATUS->state = 1;
    u32 rate_mib = fw_number("opt/fleetops/dirty-rate", 0);
    u32 wss_mib = fw_number("opt/fleetops/working-set", 16);
    if (wss_mib == 0) wss_mib = 1;
    wss_pages = wss_mib * 256u;
    STATUS->wss_pages = wss_pages;
    STATUS->magic = 0x46454C54u;
    if (rate_mib == 0) { STATUS->state = 3; halt_forever(); }
    u32 target_pps = rate_mib * 256u;   /* 4 KiB pages */
    STATUS->target_pps = target_pps;

    measure(0);                          /* warm-up (translation caches) */
    u32 full = measure(0) * WINDOWS_PER_S;   /* pages per second, no spin */
    STATUS->full_pps = full;
    u32 s = 0;
    if (full > target_pps) {
        /* cost of one spin iteration, then spins per page for the target period; refined on the
         * combined loop (x87 doubles: no 64-bit integer division without libgcc) */
        u32 spins = timed(0, 1000) * 1000u;
        double spins_ps = (double)spins * (double)WINDOWS_PER_S;
        double page_spins = spins_ps / (double)full;
        double want = spins_ps / (double)target_pps - page_spins;
        for (int round = 0; round < 4; round++) {
            s = want > 0 ? (u32)(int)want : 0;
            u32 got = measure(s) * WINDOWS_PER_S;
            if (got == 0) { want = want / 2; continue; }
            want = ((double)s + page_spins) * (double)got / (double)target_pps - page_spins;
        }
        s = want > 0 ? (u32)(int)want : 0;
    }
    STATUS->spin = s;
    STATUS->state = 2;
    for (;;) { write_page(); spin(s); }
}

__asm__(
    ".section .text\n"
    ".global _start\n"
    "_start:\n"
    "  cli\n"
    "  fninit\n"
    "  mov $stack_top, %esp\n"
    "  call kmain\n"
    "1: hlt\n"
    "  jmp 1b\n");
__asm__(".set stack_top, stack + 16384\n");
