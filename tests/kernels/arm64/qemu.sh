# Sourced: the qemu command line of the arm64 guest.
#   qemu_arm64 KERNEL INITRD APPEND    boots it; the console on stdout
# -cpu max,pauth-impdef=on: every feature, with pointer authentication by a
# cheap implementation-defined hash (QEMU's QARMA is ~2x slower under TCG).
# Single-threaded TCG, as for x86 (tests/kernels: a code-patching race).
qemu_arm64() {
	local kernel=$1 initrd=$2 append=$3 size
	size=$(( $(stat -c %s "$initrd") / 1048576 ))
	qemu-system-aarch64 -accel tcg,thread=single -machine virt -cpu max,pauth-impdef=on -smp 2 \
		-m $(( 1024 + 2 * size )) -nodefaults -display none -no-reboot -serial stdio \
		-kernel "$kernel" -initrd "$initrd" -append "console=ttyAMA0 panic=-1 $append"
}
