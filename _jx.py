import time, numpy as np, jax, jax.numpy as jnp, keras
from keras import ops
from keras_apalu import ops as o
from keras_apalu.fused import jax as fj
import keras_apalu.fused as F

def colsum_sum(g):
    return ops.sum(g, axis=0, keepdims=True)
def vjp_sum(x,a,b,up):
    p,n,ops_,dfdx=o._shared_terms(x,a,b)
    return up*dfdx, colsum_sum(up*p*ops_), colsum_sum(up*ops.expm1(n))
@jax.custom_vjp
def k_sum(x,a,b): return o._forward_select_free(x,a,b)
k_sum.defvjp(lambda x,a,b:(o._forward_select_free(x,a,b),(x,a,b)), lambda r,g: vjp_sum(*r,g))

def via2d(kern):
    def f(x,a,b):
        k=x.ndim-1; s=x.shape
        return kern(x.reshape(-1,s[-1]), a.reshape(1,-1), b.reshape(1,-1)).reshape(s)
    return f
variants={
 "ops": o._apalu_ops,
 "fused(gemv)": lambda x,a,b: o.apalu(x,a,b),
 "cvjp2d(sum)": via2d(k_sum),
 "autodiff2d(rightslope)": via2d(o._forward_right_slope),
 "gelu": lambda x,a,b: jax.nn.gelu(x, approximate=False),
}
for shape in [(32,64,64,32),(65536,64)]:
    rng=np.random.default_rng(0)
    x=jnp.asarray(rng.standard_normal(shape),jnp.float32); dy=jnp.asarray(rng.standard_normal(shape),jnp.float32)
    a=jnp.asarray(rng.uniform(.5,1.5,shape[-1]),jnp.float32); b=a*0.9
    fns={}
    for name,f in variants.items():
        def fb(x,a,b,dy,f=f):
            y,vjp=jax.vjp(f,x,a,b); return y,vjp(dy)
        j=jax.jit(fb); jax.block_until_ready(j(x,a,b,dy)); fns[name]=j
    times={n:[] for n in fns}
    for r in range(7):
        for n,j in fns.items():
            c=time.process_time(); jax.block_until_ready(j(x,a,b,dy)); times[n].append(time.process_time()-c)
    g=np.median(times["gelu"])
    for n,t in times.items():
        print(shape, n, "%.1f ms (%.1f-%.1f) %.2fx gelu"%(np.median(t)*1e3, min(t)*1e3, max(t)*1e3, np.median(t)/g), flush=True)
