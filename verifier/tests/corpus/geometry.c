/* Struct-heavy code with doubles and floats in SSE registers: vectors,
 * a bounding box, a Newton square root, struct copies and returns. */
#include <stddef.h>
#include <stdint.h>

struct vec3 { double x, y, z; };
struct body { struct vec3 pos, vel; double mass; float drag; int32_t id; };
struct aabb { struct vec3 lo, hi; };

static struct vec3 add(struct vec3 a, struct vec3 b) { return (struct vec3){a.x + b.x, a.y + b.y, a.z + b.z}; }
static struct vec3 scale(struct vec3 a, double s) { return (struct vec3){a.x * s, a.y * s, a.z * s}; }
static double dot(struct vec3 a, struct vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

double newton_sqrt(double v)
{
    if (v <= 0.0)
        return 0.0;
    double x = v > 1.0 ? v : 1.0;
    for (int i = 0; i < 60; i++) {
        double next = 0.5 * (x + v / x);
        if (next == x)
            break;
        x = next;
    }
    return x;
}

void step(struct body *bodies, size_t n, double dt)
{
    for (size_t i = 0; i < n; i++) {
        struct body b = bodies[i];
        struct vec3 force = {0.0, -9.81 * b.mass, 0.0};
        for (size_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            struct vec3 d = add(bodies[j].pos, scale(b.pos, -1.0));
            double r2 = dot(d, d) + 1e-9;
            force = add(force, scale(d, bodies[j].mass * b.mass / (r2 * newton_sqrt(r2))));
        }
        struct vec3 acc = scale(force, 1.0 / b.mass);
        b.vel = scale(add(b.vel, scale(acc, dt)), 1.0 - (double)b.drag * dt);
        b.pos = add(b.pos, scale(b.vel, dt));
        bodies[i] = b;
    }
}

struct aabb bounds(const struct body *bodies, size_t n)
{
    struct aabb box = {{1e300, 1e300, 1e300}, {-1e300, -1e300, -1e300}};
    for (size_t i = 0; i < n; i++) {
        struct vec3 p = bodies[i].pos;
        if (p.x < box.lo.x) box.lo.x = p.x;
        if (p.y < box.lo.y) box.lo.y = p.y;
        if (p.z < box.lo.z) box.lo.z = p.z;
        if (p.x > box.hi.x) box.hi.x = p.x;
        if (p.y > box.hi.y) box.hi.y = p.y;
        if (p.z > box.hi.z) box.hi.z = p.z;
    }
    return box;
}

int64_t simulate(int64_t seed, int steps)
{
    struct body bodies[8];
    uint64_t s = (uint64_t)seed;
    for (int i = 0; i < 8; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        bodies[i] = (struct body){{(double)(s >> 40), (double)((s >> 20) & 0xfffff), (double)(s & 0xfffff)},
                                  {0.0, 0.0, 0.0}, 1.0 + (double)(s % 100), 0.01f * (float)(i + 1), i};
    }
    for (int k = 0; k < steps; k++)
        step(bodies, 8, 0.01);
    struct aabb box = bounds(bodies, 8);
    double volume = (box.hi.x - box.lo.x) * (box.hi.y - box.lo.y) * (box.hi.z - box.lo.z);
    float f = (float)volume * 0.5f + bodies[3].drag;
    return (int64_t)volume ^ (int64_t)f ^ (int64_t)(uint64_t)(unsigned)bodies[7].id;
}
