/** Kernel tests never skip silently: without root they fail here, naming why. */
export default function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the kernel tests create network namespaces and need root (CI runs as root); run: sudo npm test');
  }
}
