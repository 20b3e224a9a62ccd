// The piscina rival's task for per-call overhead: as little work as a task can be.
export default function trivial(x) {
  return x + 1;
}
