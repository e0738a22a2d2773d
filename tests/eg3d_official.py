"""EG3D in NVIDIA's on-disk format, and a slow, literal reference of its inference, without NVIDIA's code.

Two jobs, one module tree:

1. **Snapshots in the official format.** The classes below carry the official class names, the official
   ``__init__`` signatures and exactly the attributes the official constructors set (so a pickled
   ``state`` is the official ``__dict__``). Persistent classes (everything from
   ``training/networks_stylegan2.py``, ``superresolution.py``, ``triplane.TriPlaneGenerator``,
   ``dual_discriminator.py``, ``augment.py``) reduce to
   ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` as ``persistence.py`` pickles them,
   with ``_init_args``/``_init_kwargs`` recorded as its decorator records them; ``module_src`` is a
   canary that creates a file if anything executes it. The rest (``OSGDecoder``, ``ImportanceRenderer``,
   ``MipRayMarcher2``, ``RaySampler``, ``EasyDict``) pickle by reference under their official module
   paths, registered in ``sys.modules`` only while pickling (:func:`official_modules`).
   :func:`save_snapshot` writes ``dict(training_set_kwargs, G, D, G_ema, augment_pipe)`` with one
   ``pickle.dump``, as ``training/training_loop.py`` does.

2. **A reference implementation.** ``forward`` methods follow the official algorithms step by step
   but always take the simple path: fp32 everywhere (as the official code does off-GPU), the
   non-fused modulated convolution (styles scale the input, plain convolution, then the demodulation
   coefficients, then noise), and up-sampling by zero insertion + padding + the 4x4 FIR filter
   followed by a true (flipped-kernel) convolution, i.e. ``upfirdn2d``'s reference path, never the
   transposed convolution a fast implementation uses. Tests treat it as "the official code".

Facts read from NVlabs/eg3d (``train.py``, ``training/*.py``, ``torch_utils/ops/*.py``,
``camera_utils.py``); see :data:`VARIANTS` for the released configurations. As officially,
``_init_kwargs`` is a plain dict (of EasyDict/dict values) and the snapshot's
``training_set_kwargs`` a plain dict copy; ``G_ema`` carries the ``dataset_label_std`` buffer the
training loop registers. Small widths (``channel_base``/``channel_max``) keep the backbone cheap;
the super-resolution's widths and ``w_dim=512`` are hard-coded officially and kept (so ``w_dim``
must be 512), unless the non-official ``sr_width_scale`` of :func:`make_generator` narrows them.

Weights are random but every path matters (see :func:`_liven`): non-zero biases and noise
strengths, ``w_avg`` at the mean mapping output; a decoder whose density grows with the feature
magnitude, calibrated so densities cross the meshing level 10 inside the box and stay low outside
it; and one channel of every super-resolution's last convolution at the edge of ``conv_clamp``
(256), so that clamping changes the image.
"""

from __future__ import annotations

import contextlib
import copy
import math
import pickle
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------
# Pickling machinery: official module names, the persistence reduction, the canary.

_BY_REFERENCE_MODULES = ("dnnlib", "dnnlib.util", "training", "training.triplane", "training.volumetric_rendering",
                         "training.volumetric_rendering.renderer", "training.volumetric_rendering.ray_marcher",
                         "training.volumetric_rendering.ray_sampler")


class EasyDict(dict):
    """``dnnlib.util.EasyDict``: a dict with attribute access (pickled by reference)."""

    __module__ = "dnnlib.util"

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        del self[name]


def canary_source(canary, module: str) -> str:
    """The ``module_src`` stored for the persistent classes of ``module``: running it creates ``canary``.

    Without a canary path the source raises instead, so executing it can never go unnoticed.
    """
    body = f"open({str(canary)!r}, 'w').close()\n" if canary is not None else "raise RuntimeError('embedded EG3D code was executed')\n"
    return f"# stand-in for NVlabs/eg3d {module}: nothing may ever execute this\n{body}"


def _reconstruct_persistent_obj(meta):
    """Never called here: the reader under test must not call NVIDIA's reconstructor either."""
    raise AssertionError("torch_utils.persistence._reconstruct_persistent_obj ran")


@contextlib.contextmanager
def official_modules():
    """Make the official module paths importable while pickling, as NVIDIA's classes would be."""
    names = ("torch_utils", "torch_utils.persistence", *_BY_REFERENCE_MODULES)
    saved = {name: sys.modules.get(name) for name in names}
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    for cls in (EasyDict, OSGDecoder, ImportanceRenderer, MipRayMarcher2, RaySampler):
        setattr(sys.modules[cls.__module__], cls.__name__, cls)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Persistent(nn.Module):
    """A ``@persistence.persistent_class`` instance: records its constructor arguments and pickles as a record.

    ``_canary`` (the canary path, set by :func:`make_generator`) lives in ``__dict__`` but is left out
    of the pickled state, which is exactly the official ``__dict__``.
    """

    official_module = "training/networks_stylegan2.py"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return  # an inherited constructor is wrapped already
        init = cls.__init__

        def __init__(self, *args, **kw):
            init(self, *args, **kw)
            self._init_args = copy.deepcopy(args)  # as the decorator does, after the constructor
            self._init_kwargs = copy.deepcopy(kw)

        cls.__init__ = __init__

    def __reduce_ex__(self, protocol):
        reconstruct = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        state = {k: v for k, v in self.__dict__.items() if k != "_canary"}
        meta = dict(type="class", version=6, module_src=canary_source(self.__dict__.get("_canary"), self.official_module),
                    class_name=type(self).__name__, state=state)
        return reconstruct, (meta,)

    def __deepcopy__(self, memo):
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone


# --------------------------------------------------------------------------------------------
# Reference ops (torch_utils/ops), written the slow way.

ACT_GAIN = {"linear": 1, "lrelu": np.sqrt(2)}  # bias_act.activation_funcs[...].def_gain (numpy floats officially)


def bias_act(x, b=None, act="linear", gain=None, clamp=None):
    """Add a per-channel bias (dim 1), apply the activation (lrelu slope 0.2), scale by gain, clamp to +-clamp."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    elif act != "linear":
        raise ValueError(act)
    gain = float(ACT_GAIN[act] if gain is None else gain)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-float(clamp), float(clamp))
    return x


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def setup_filter(taps=(1, 3, 3, 1)):
    """A short 1-D filter becomes its 2-D outer product, normalised to unit DC gain (upfirdn2d.setup_filter)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x, f, up=1, pad=(0, 0, 0, 0), gain=1):
    """Insert ``up - 1`` zeros after every pixel, zero-pad ``(x0, x1, y0, y1)``, then convolve with ``f * gain``.

    The filter is flipped before ``conv2d`` (which correlates), so this is a true convolution, as the
    official ``flip_filter=False`` default means.
    """
    n, c, h, w = x.shape
    if up > 1:
        spread = x.new_zeros(n, c, h, up, w, up)
        spread[:, :, :, 0, :, 0] = x
        x = spread.reshape(n, c, h * up, w * up)
    assert min(pad) >= 0
    x = F.pad(x, list(pad))
    kernel = (f * gain).to(x.dtype).flip([0, 1])
    return F.conv2d(x, kernel.expand(c, 1, *kernel.shape).contiguous(), groups=c)


def upsample2d(x, f, up=2):
    """``upfirdn2d.upsample2d``: the padding that makes the output exactly ``up`` times larger, gain ``up**2``."""
    k = f.shape[-1]
    p0, p1 = (k + up - 1) // 2, (k - up) // 2
    return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)


def conv2d_resample(x, w, f=None, up=1, padding=0, flip_weight=True):
    """``conv2d_resample`` by its generic path: (up-sample + FIR | zero-pad), then a plain convolution.

    ``flip_weight=False`` asks for a true convolution, so the kernel is flipped before ``conv2d``.
    """
    p0 = p1 = padding
    if up > 1:
        k = f.shape[-1]
        p0, p1 = p0 + (k + up - 1) // 2, p1 + (k - up) // 2
        x = upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)
    else:
        x = F.pad(x, [p0, p1, p0, p1])
    if not flip_weight:
        w = w.flip([2, 3])
    return F.conv2d(x, w)


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None, demodulate=True, flip_weight=True):
    """The non-fused form: scale the input by the styles, convolve with the shared weight, demodulate, add noise."""
    n = x.shape[0]
    x = x * styles.reshape(n, -1, 1, 1)
    x = conv2d_resample(x, weight, resample_filter, up=up, padding=padding, flip_weight=flip_weight)
    if demodulate:
        per_sample = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, k, k]
        x = x * (per_sample.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1)
    if noise is not None:
        x = x + noise
    return x


# --------------------------------------------------------------------------------------------
# training/networks_stylegan2.py

class FullyConnectedLayer(Persistent):
    def __init__(self, in_features, out_features, bias=True, activation="linear", lr_multiplier=1, bias_init=0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], np.float32(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        bias = self.bias
        if bias is not None and self.bias_gain != 1:
            bias = bias * float(self.bias_gain)
        return bias_act(x @ (self.weight * float(self.weight_gain)).t(), bias, act=self.activation)


class MappingNetwork(Persistent):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, embed_features=None, layer_features=None,
                 activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.998):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = 0 if c_dim == 0 else w_dim if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        widths = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(widths[idx], widths[idx + 1], activation=activation, lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:  # pull towards the average w; with a cutoff, only the first ws
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(Persistent):
    def __init__(self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1, use_noise=True, activation="lrelu",
                 resample_filter=[1, 3, 3, 1], conv_clamp=None, channels_last=False):  # noqa: B006
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACT_GAIN[activation]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1):
        assert noise_mode in ("random", "const", "none")
        assert x.shape[1:] == (self.in_channels, self.resolution // self.up, self.resolution // self.up), x.shape
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1))  # officially: a true convolution when up-sampling
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(Persistent):
    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, channels_last=False):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size ** 2))

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * float(self.weight_gain)
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(Persistent):
    """A skip-architecture block: (const | up-sampling conv0) + conv1, then ToRGB added to the up-sampled image."""

    upsamples = True

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last, architecture="skip", resample_filter=[1, 3, 3, 1],  # noqa: B006
                 conv_clamp=256, use_fp16=False, fp16_channels_last=False, fused_modconv_default=True, **layer_kwargs):
        assert architecture == "skip", "EG3D builds skip blocks only"
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        if in_channels != 0:
            up = {"up": 2, "resample_filter": resample_filter} if self.upsamples else {}  # as officially: NoUp passes neither
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, **up, conv_clamp=conv_clamp,
                                        channels_last=self.channels_last, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp,
                                    channels_last=self.channels_last, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp, channels_last=self.channels_last)
            self.num_torgb += 1

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, update_emas=False, **layer_kwargs):
        assert ws.shape[1:] == (self.num_conv + self.num_torgb, self.w_dim), ws.shape
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), **layer_kwargs)
        else:
            x = self.conv0(x, next(w_iter), **layer_kwargs)
            x = self.conv1(x, next(w_iter), **layer_kwargs)
        if img is not None and self.upsamples:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter))
        # In place, as officially: a NoUp block adds into the very tensor it was given, which for the
        # super-resolution's first block can be a view of the rendered features (see TriPlaneGenerator.synthesis).
        img = y if img is None else img.add_(y)
        return x, img


class SynthesisNetwork(Persistent):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_fp16_res=4, **block_kwargs):
        assert img_resolution >= 4 and img_resolution & (img_resolution - 1) == 0
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == self.img_resolution
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim, resolution=res, img_channels=img_channels,
                                   is_last=is_last, use_fp16=(res >= fp16_resolution), **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws, **block_kwargs):
        """Each block reads ``num_conv + num_torgb`` ws but the window advances by ``num_conv``: ToRGB shares the next block's first w."""
        assert ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        ws = ws.to(torch.float32)
        x = img = None
        start = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, start, block.num_conv + block.num_torgb), **block_kwargs)
            start += block.num_conv
        return img


class Generator(Persistent):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs={}, **synthesis_kwargs):  # noqa: B006 (official signature)
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        return self.synthesis(self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff), **synthesis_kwargs)


# --------------------------------------------------------------------------------------------
# training/superresolution.py

class SynthesisBlockNoUp(SynthesisBlock):
    """``SynthesisBlock`` without up-sampling (conv0 keeps the resolution, the image is not up-sampled)."""

    official_module = "training/superresolution.py"
    upsamples = False


_SR_WIDTH_SCALE = [1.0]
"""Not official: a factor on the super-resolution's hard-coded widths, set only while :func:`make_generator` builds."""


class _Superresolution(Persistent):
    """Shared forward: the last w three times, a bilinear (antialiased) resize of the features and image, two blocks."""

    official_module = "training/superresolution.py"
    resize_when = "!="  # 4X resizes only inputs smaller than its input resolution

    def _blocks(self, channels, sr_num_fp16_res, blocks, block_kwargs):
        use_fp16 = sr_num_fp16_res > 0
        clamp = 256 if use_fp16 else None  # the clamp follows the fp16 flag, and applies in fp32 too
        for name, (cls, cin, cout, res, is_last) in zip(("block0", "block1"), blocks):
            cin, cout = (None if cin is None else max(1, round(cin * _SR_WIDTH_SCALE[0]))), max(1, round(cout * _SR_WIDTH_SCALE[0]))
            setattr(self, name, cls(channels if cin is None else cin, cout, w_dim=512, resolution=res, img_channels=3, is_last=is_last,
                                    use_fp16=use_fp16, conv_clamp=clamp, **block_kwargs))

    def forward(self, rgb, x, ws, **block_kwargs):
        ws = ws[:, -1:, :].repeat(1, 3, 1)
        size = x.shape[-1]
        if (size != self.input_resolution) if self.resize_when == "!=" else (size < self.input_resolution):
            resize = dict(size=(self.input_resolution, self.input_resolution), mode="bilinear", align_corners=False, antialias=self.sr_antialias)
            x = F.interpolate(x, **resize)
            rgb = F.interpolate(rgb, **resize)
        x, rgb = self.block0(x, rgb, ws, **block_kwargs)
        x, rgb = self.block1(x, rgb, ws, **block_kwargs)
        return rgb


class SuperresolutionHybrid8X(_Superresolution):
    def __init__(self, channels, img_resolution, sr_num_fp16_res, sr_antialias, num_fp16_res=4, conv_clamp=None, channel_base=None, channel_max=None,
                 **block_kwargs):
        super().__init__()
        assert img_resolution == 512
        self.input_resolution = 128
        self.sr_antialias = sr_antialias
        self._blocks(channels, sr_num_fp16_res, [(SynthesisBlock, None, 128, 256, False), (SynthesisBlock, 128, 64, 512, True)], block_kwargs)
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))


class SuperresolutionHybrid4X(_Superresolution):
    resize_when = "<"

    def __init__(self, channels, img_resolution, sr_num_fp16_res, sr_antialias, num_fp16_res=4, conv_clamp=None, channel_base=None, channel_max=None,
                 **block_kwargs):
        super().__init__()
        assert img_resolution == 256
        self.sr_antialias = sr_antialias
        self.input_resolution = 128
        self._blocks(channels, sr_num_fp16_res, [(SynthesisBlockNoUp, None, 128, 128, False), (SynthesisBlock, 128, 64, 256, True)], block_kwargs)
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))


class SuperresolutionHybrid2X(_Superresolution):
    def __init__(self, channels, img_resolution, sr_num_fp16_res, sr_antialias, num_fp16_res=4, conv_clamp=None, channel_base=None, channel_max=None,
                 **block_kwargs):
        super().__init__()
        assert img_resolution == 128
        self.input_resolution = 64
        self.sr_antialias = sr_antialias
        self._blocks(channels, sr_num_fp16_res, [(SynthesisBlockNoUp, None, 128, 64, False), (SynthesisBlock, 128, 64, 128, True)], block_kwargs)
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))


class SuperresolutionHybrid8XDC(_Superresolution):
    def __init__(self, channels, img_resolution, sr_num_fp16_res, sr_antialias, num_fp16_res=4, conv_clamp=None, channel_base=None, channel_max=None,
                 **block_kwargs):
        super().__init__()
        assert img_resolution == 512
        self.input_resolution = 128
        self.sr_antialias = sr_antialias
        self._blocks(channels, sr_num_fp16_res, [(SynthesisBlock, None, 256, 256, False), (SynthesisBlock, 256, 128, 512, True)], block_kwargs)


SUPERRESOLUTION = {f"training.superresolution.{cls.__name__}": cls
                   for cls in (SuperresolutionHybrid2X, SuperresolutionHybrid4X, SuperresolutionHybrid8X, SuperresolutionHybrid8XDC)}


# --------------------------------------------------------------------------------------------
# training/volumetric_rendering (not persistent: pickled by reference)

def generate_planes():
    """The three plane bases of renderer.py; through their inverses they project onto (x, y), (x, z) and (z, x)."""
    return torch.tensor([[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                         [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
                         [[0, 0, 1], [1, 0, 0], [0, 1, 0]]], dtype=torch.float32)


def project_onto_planes(planes, coordinates):
    """[N, M, 3] points -> [N * n_planes, M, 2]: row vectors times each basis' inverse, first two coordinates."""
    n, m, _ = coordinates.shape
    k = planes.shape[0]
    points = coordinates.unsqueeze(1).expand(-1, k, -1, -1).reshape(n * k, m, 3)
    inverses = torch.linalg.inv(planes).unsqueeze(0).expand(n, -1, -1, -1).reshape(n * k, 3, 3)
    return torch.bmm(points, inverses)[..., :2]


def sample_from_planes(plane_axes, plane_features, coordinates, box_warp):
    """Bilinear, zero-padded, ``align_corners=False`` lookups of each plane at the points scaled by ``2 / box_warp``."""
    n, k, c, h, w = plane_features.shape
    m = coordinates.shape[1]
    grid = project_onto_planes(plane_axes, (2 / box_warp) * coordinates).unsqueeze(1)  # [N*k, 1, M, 2]
    out = F.grid_sample(plane_features.reshape(n * k, c, h, w), grid.float(), mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.permute(0, 3, 2, 1).reshape(n, k, m, c)


def ray_limits_box(origins, directions, side):
    """math_utils.get_ray_limits_box: slab entry/exit distances of a centred cube; misses get (-1, -2)."""
    shape = origins.shape
    o, d = origins.detach().reshape(-1, 3), directions.detach().reshape(-1, 3)
    bounds = torch.tensor([[-side / 2] * 3, [side / 2] * 3], dtype=o.dtype, device=o.device)
    inv = 1 / d
    sign = (inv < 0).long()
    near = [(bounds.index_select(0, sign[:, i])[:, i] - o[:, i]) * inv[:, i] for i in range(3)]
    far = [(bounds.index_select(0, 1 - sign[:, i])[:, i] - o[:, i]) * inv[:, i] for i in range(3)]
    valid = ~torch.logical_or(near[0] > far[1], near[1] > far[0])
    tmin, tmax = torch.max(near[0], near[1]), torch.min(far[0], far[1])
    valid &= ~torch.logical_or(tmin > far[2], near[2] > tmax)
    tmin, tmax = torch.max(tmin, near[2]), torch.min(tmax, far[2])
    tmin[~valid], tmax[~valid] = -1, -2
    return tmin.reshape(*shape[:-1], 1), tmax.reshape(*shape[:-1], 1)


class MipRayMarcher2(nn.Module):
    __module__ = "training.volumetric_rendering.ray_marcher"

    def __init__(self):
        super().__init__()

    def forward(self, colors, densities, depths, rendering_options):
        """Mid-point quadrature: colours, densities and depths averaged between neighbours, density ``softplus(x - 1)``."""
        deltas = depths[:, :, 1:] - depths[:, :, :-1]
        colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
        densities_mid = (densities[:, :, :-1] + densities[:, :, 1:]) / 2
        depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
        assert rendering_options["clamp_mode"] == "softplus"
        alpha = 1 - torch.exp(-F.softplus(densities_mid - 1) * deltas)
        transmit = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2), -2)[:, :, :-1]
        weights = alpha * transmit
        rgb = torch.sum(weights * colors_mid, -2)
        total = weights.sum(2)
        depth = torch.nan_to_num(torch.sum(weights * depths_mid, -2) / total, float("inf"))
        depth = torch.clamp(depth, torch.min(depths), torch.max(depths))  # the batch-wide sample range, not per ray
        if rendering_options.get("white_back", False):
            rgb = rgb + 1 - total
        return rgb * 2 - 1, depth, weights


class RaySampler(nn.Module):
    __module__ = "training.volumetric_rendering.ray_sampler"

    def __init__(self):
        super().__init__()
        self.ray_origins_h, self.ray_directions, self.depths, self.image_coords, self.rendering_options = None, None, None, None, None

    def forward(self, cam2world_matrix, intrinsics, resolution):
        """Pixel-centre rays through normalised intrinsics (principal point 0.5), OpenCV camera axes."""
        n, m = cam2world_matrix.shape[0], resolution ** 2
        dev = cam2world_matrix.device
        origin = cam2world_matrix[:, :3, 3]
        fx, fy, cx, cy, sk = (intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None], intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None],
                              intrinsics[:, 0, 1, None])
        steps = torch.arange(resolution, dtype=torch.float32, device=dev)
        rows, cols = torch.meshgrid(steps, steps, indexing="ij")
        u = (cols * (1.0 / resolution) + (0.5 / resolution)).reshape(1, -1).repeat(n, 1)  # x runs along a row
        v = (rows * (1.0 / resolution) + (0.5 / resolution)).reshape(1, -1).repeat(n, 1)
        z = torch.ones((n, m), device=dev)
        x_lift = (u - cx + cy * sk / fy - sk * v / fy) / fx * z
        y_lift = (v - cy) / fy * z
        points = torch.stack((x_lift, y_lift, z, torch.ones_like(z)), dim=-1)
        world = torch.bmm(cam2world_matrix, points.permute(0, 2, 1)).permute(0, 2, 1)[:, :, :3]
        dirs = F.normalize(world - origin[:, None, :], dim=2)
        return origin.unsqueeze(1).repeat(1, m, 1), dirs


class ImportanceRenderer(nn.Module):
    __module__ = "training.volumetric_rendering.renderer"

    def __init__(self):
        super().__init__()
        self.ray_marcher = MipRayMarcher2()
        self.plane_axes = generate_planes()

    def forward(self, planes, decoder, ray_origins, ray_directions, rendering_options):
        """Stratified coarse pass, importance pass from the coarse weights, both marched together (sorted by depth)."""
        opts = rendering_options
        self.plane_axes = self.plane_axes.to(ray_origins.device)
        start, end = opts["ray_start"], opts["ray_end"]
        if start == end == "auto":
            start, end = ray_limits_box(ray_origins, ray_directions, opts["box_warp"])
            valid = end > start
            if torch.any(valid).item():
                start[~valid] = start[valid].min()
                end[~valid] = start[valid].max()  # sic: the official code uses the largest *start*
        depths_coarse = self.sample_stratified(ray_origins, start, end, opts["depth_resolution"], opts["disparity_space_sampling"])
        batch, rays, samples, _ = depths_coarse.shape
        colors_coarse, densities_coarse = self._query(planes, decoder, ray_origins, ray_directions, depths_coarse, opts)
        n_fine = opts["depth_resolution_importance"]
        if n_fine > 0:
            _, _, weights = self.ray_marcher(colors_coarse, densities_coarse, depths_coarse, opts)
            depths_fine = self.sample_importance(depths_coarse, weights, n_fine)
            colors_fine, densities_fine = self._query(planes, decoder, ray_origins, ray_directions, depths_fine, opts)
            depths, colors, densities = self.unify_samples(depths_coarse, colors_coarse, densities_coarse, depths_fine, colors_fine, densities_fine)
        else:
            depths, colors, densities = depths_coarse, colors_coarse, densities_coarse
        rgb, depth, weights = self.ray_marcher(colors, densities, depths, opts)
        return rgb, depth, weights.sum(2)

    def _query(self, planes, decoder, origins, directions, depths, opts):
        batch, rays, samples, _ = depths.shape
        points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(batch, -1, 3)
        dirs = directions.unsqueeze(-2).expand(-1, -1, samples, -1).reshape(batch, -1, 3)
        out = self.run_model(planes, decoder, points, dirs, opts)
        return out["rgb"].reshape(batch, rays, samples, -1), out["sigma"].reshape(batch, rays, samples, 1)

    def run_model(self, planes, decoder, sample_coordinates, sample_directions, options):
        out = decoder(sample_from_planes(self.plane_axes, planes, sample_coordinates, box_warp=options["box_warp"]), sample_directions)
        if options.get("density_noise", 0) > 0:
            out["sigma"] = out["sigma"] + torch.randn_like(out["sigma"]) * options["density_noise"]
        return out

    def unify_samples(self, depths1, colors1, densities1, depths2, colors2, densities2):
        depths = torch.cat([depths1, depths2], dim=-2)
        colors = torch.cat([colors1, colors2], dim=-2)
        densities = torch.cat([densities1, densities2], dim=-2)
        _, order = torch.sort(depths, dim=-2)
        return (torch.gather(depths, -2, order), torch.gather(colors, -2, order.expand(-1, -1, -1, colors.shape[-1])),
                torch.gather(densities, -2, order))

    def sample_stratified(self, ray_origins, ray_start, ray_end, depth_resolution, disparity_space_sampling=False):
        """Evenly spaced depths, each jittered forward by up to one spacing (``torch.rand_like``)."""
        n, m, _ = ray_origins.shape
        dev = ray_origins.device
        if disparity_space_sampling:
            t = torch.linspace(0, 1, depth_resolution, device=dev).reshape(1, 1, depth_resolution, 1).repeat(n, m, 1, 1)
            t = t + torch.rand_like(t) * (1 / (depth_resolution - 1))
            return 1.0 / (1.0 / ray_start * (1.0 - t) + 1.0 / ray_end * t)
        if isinstance(ray_start, torch.Tensor):
            steps = (torch.arange(depth_resolution, dtype=torch.float32, device=dev) / (depth_resolution - 1)).reshape(-1, 1, 1, 1)
            depths = (ray_start[None] + steps * (ray_end - ray_start)[None]).permute(1, 2, 0, 3)
            return depths + torch.rand_like(depths) * ((ray_end - ray_start) / (depth_resolution - 1))[..., None]
        depths = torch.linspace(ray_start, ray_end, depth_resolution, device=dev).reshape(1, 1, depth_resolution, 1).repeat(n, m, 1, 1)
        return depths + torch.rand_like(depths) * ((ray_end - ray_start) / (depth_resolution - 1))

    def sample_importance(self, z_vals, weights, N_importance):
        """Coarse weights max-pooled then averaged (window 2), +0.01, as a pdf over the coarse mid-points."""
        with torch.no_grad():
            batch, rays, samples, _ = z_vals.shape
            z_vals = z_vals.reshape(batch * rays, samples)
            weights = weights.reshape(batch * rays, -1)
            weights = F.max_pool1d(weights.unsqueeze(1).float(), 2, 1, padding=1)
            weights = F.avg_pool1d(weights, 2, 1).squeeze(1) + 0.01  # official: .squeeze(), which breaks for a single ray
            mids = 0.5 * (z_vals[:, :-1] + z_vals[:, 1:])
            return self.sample_pdf(mids, weights[:, 1:-1], N_importance).detach().reshape(batch, rays, N_importance, 1)

    def sample_pdf(self, bins, weights, N_importance, det=False, eps=1e-5):
        """Inverse-transform sampling of ``weights`` over ``bins`` (``torch.rand`` unless ``det``)."""
        n_rays, n_bins = weights.shape
        weights = weights + eps
        cdf = torch.cumsum(weights / torch.sum(weights, -1, keepdim=True), -1)
        cdf = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], -1)
        if det:
            u = torch.linspace(0, 1, N_importance, device=bins.device).expand(n_rays, N_importance)
        else:
            u = torch.rand(n_rays, N_importance, device=bins.device)
        u = u.contiguous()
        above_index = torch.searchsorted(cdf, u, right=True)
        pair = torch.stack([torch.clamp_min(above_index - 1, 0), torch.clamp_max(above_index, n_bins)], -1).view(n_rays, 2 * N_importance)
        cdf_pair = torch.gather(cdf, 1, pair).view(n_rays, N_importance, 2)
        bin_pair = torch.gather(bins, 1, pair).view(n_rays, N_importance, 2)
        denom = cdf_pair[..., 1] - cdf_pair[..., 0]
        denom = torch.where(denom < eps, torch.ones_like(denom), denom)
        return bin_pair[..., 0] + (u - cdf_pair[..., 0]) / denom * (bin_pair[..., 1] - bin_pair[..., 0])


# --------------------------------------------------------------------------------------------
# training/triplane.py

class OSGDecoder(nn.Module):
    __module__ = "training.triplane"

    def __init__(self, n_features, options):
        super().__init__()
        self.hidden_dim = 64
        self.net = nn.Sequential(FullyConnectedLayer(n_features, self.hidden_dim, lr_multiplier=options["decoder_lr_mul"]), nn.Softplus(),
                                 FullyConnectedLayer(self.hidden_dim, 1 + options["decoder_output_dim"], lr_multiplier=options["decoder_lr_mul"]))

    def forward(self, sampled_features, ray_directions):
        """Mean of the three planes' features -> MLP; sigma is raw, colours/features a widened sigmoid (MipNeRF)."""
        x = sampled_features.mean(1)
        n, m, c = x.shape
        x = self.net(x.reshape(n * m, c)).reshape(n, m, -1)
        return {"rgb": torch.sigmoid(x[..., 1:]) * (1 + 2 * 0.001) - 0.001, "sigma": x[..., 0:1]}


class TriPlaneGenerator(Persistent):
    official_module = "training/triplane.py"

    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, sr_num_fp16_res=0, mapping_kwargs={}, rendering_kwargs={},  # noqa: B006
                 sr_kwargs={}, **synthesis_kwargs):  # noqa: B006 (official signature)
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.renderer = ImportanceRenderer()
        self.ray_sampler = RaySampler()
        self.backbone = Generator(z_dim, c_dim, w_dim, img_resolution=256, img_channels=32 * 3, mapping_kwargs=mapping_kwargs, **synthesis_kwargs)
        self.superresolution = SUPERRESOLUTION[rendering_kwargs["superresolution_module"]](
            channels=32, img_resolution=img_resolution, sr_num_fp16_res=sr_num_fp16_res, sr_antialias=rendering_kwargs["sr_antialias"], **sr_kwargs)
        self.decoder = OSGDecoder(32, {"decoder_lr_mul": rendering_kwargs.get("decoder_lr_mul", 1), "decoder_output_dim": 32})
        self.neural_rendering_resolution = 64
        self.rendering_kwargs = rendering_kwargs
        self._last_planes = None

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        """The camera label is zeroed when ``c_gen_conditioning_zero`` and scaled by ``c_scale`` (default 0 when absent)."""
        if self.rendering_kwargs["c_gen_conditioning_zero"]:
            c = torch.zeros_like(c)
        return self.backbone.mapping(z, c * self.rendering_kwargs.get("c_scale", 0), truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def planes(self, ws, **synthesis_kwargs):
        """The backbone's 96-channel image as three 32-channel planes, ``[N, 3, 32, 256, 256]``."""
        planes = self.backbone.synthesis(ws, **synthesis_kwargs)
        return planes.view(len(planes), 3, 32, planes.shape[-2], planes.shape[-1])

    def synthesis(self, ws, c, neural_rendering_resolution=None, update_emas=False, cache_backbone=False, use_cached_backbone=False, **synthesis_kwargs):
        """Render at the neural resolution, then super-resolve. ``noise_mode`` reaches the backbone only (default
        'random', as officially); the super-resolution uses ``rendering_kwargs['superresolution_noise_mode']``.

        Returns image, image_raw, image_depth and (not official) the 32-channel ``image_features`` as
        rendered. Officially ``image_raw`` is a view of the features that the super-resolution may
        modify: when its first block is a ``SynthesisBlockNoUp`` (2X; 4X) and the input needs no
        resize, that block's ToRGB output is added into it in place, and so into ``image_raw``. This
        reference does the same; ``image_features[:, :3]`` is the untouched render.
        """
        cam2world, intrinsics = c[:, :16].view(-1, 4, 4), c[:, 16:25].view(-1, 3, 3)
        if neural_rendering_resolution is None:
            neural_rendering_resolution = self.neural_rendering_resolution
        else:
            self.neural_rendering_resolution = neural_rendering_resolution  # officially a lasting side effect
        origins, directions = self.ray_sampler(cam2world, intrinsics, neural_rendering_resolution)
        n = origins.shape[0]
        if use_cached_backbone and self._last_planes is not None:
            planes = self._last_planes
        else:
            planes = self.planes(ws, **synthesis_kwargs)
        if cache_backbone:
            self._last_planes = planes
        features, depth, _ = self.renderer(planes, self.decoder, origins, directions, self.rendering_kwargs)
        res = self.neural_rendering_resolution
        feature_image = features.permute(0, 2, 1).reshape(n, features.shape[-1], res, res).contiguous()
        depth_image = depth.permute(0, 2, 1).reshape(n, 1, res, res)
        rgb = feature_image[:, :3]
        features = feature_image.clone()
        sr_kwargs = {k: v for k, v in synthesis_kwargs.items() if k != "noise_mode"}
        image = self.superresolution(rgb, feature_image, ws, noise_mode=self.rendering_kwargs["superresolution_noise_mode"], **sr_kwargs)
        return {"image": image, "image_raw": rgb, "image_depth": depth_image, "image_features": features}

    def sample(self, coordinates, directions, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        """Density (raw sigma) and colour features at arbitrary points, as gen_samples.py queries them for shapes."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.sample_mixed(coordinates, directions, ws, **synthesis_kwargs)

    def sample_mixed(self, coordinates, directions, ws, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        return self.renderer.run_model(self.planes(ws, **synthesis_kwargs), self.decoder, coordinates, directions, self.rendering_kwargs)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, neural_rendering_resolution=None, update_emas=False, cache_backbone=False,
                use_cached_backbone=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, c, neural_rendering_resolution=neural_rendering_resolution, cache_backbone=cache_backbone,
                              use_cached_backbone=use_cached_backbone, **synthesis_kwargs)


# --------------------------------------------------------------------------------------------
# The rest of a snapshot: D and augment_pipe (persistent; layout only, never run)

class DualDiscriminator(Persistent):
    """Stand-in: the official attributes, label mapping and filter; the conv blocks and epilogue are omitted."""

    official_module = "training/dual_discriminator.py"

    def __init__(self, c_dim, img_resolution, img_channels, architecture="resnet", channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256,
                 cmap_dim=None, disc_c_noise=0, block_kwargs={}, mapping_kwargs={}, epilogue_kwargs={}):  # noqa: B006 (official signature)
        super().__init__()
        img_channels *= 2
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        cmap_dim = (min(channel_base // 4, channel_max) if cmap_dim is None else cmap_dim) if c_dim else 0
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None, **mapping_kwargs)
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))
        self.disc_c_noise = disc_c_noise


class AugmentPipe(Persistent):
    """Stand-in: the probability buffer ``p`` and the probability multipliers ``train.py`` sets for ADA."""

    official_module = "training/augment.py"

    def __init__(self, xflip=0, rotate90=0, xint=0, scale=0, rotate=0, aniso=0, xfrac=0, brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0):
        super().__init__()
        self.register_buffer("p", torch.ones([]))
        for name, value in dict(xflip=xflip, rotate90=rotate90, xint=xint, scale=scale, rotate=rotate, aniso=aniso, xfrac=xfrac, brightness=brightness,
                                contrast=contrast, lumaflip=lumaflip, hue=hue, saturation=saturation).items():
            setattr(self, name, float(value))


# --------------------------------------------------------------------------------------------
# Released configurations (train.py) and the builders

def _rendering_options(cfg, resolution, sr_module, gen_pose_cond=True, gpc_reg_prob=0.5):
    """``rendering_options`` exactly as train.py builds it (click turns the float options' defaults into floats)."""
    options = {
        "image_resolution": resolution,
        "disparity_space_sampling": False,
        "clamp_mode": "softplus",
        "superresolution_module": f"training.superresolution.{sr_module}",
        "c_gen_conditioning_zero": not gen_pose_cond,
        "gpc_reg_prob": gpc_reg_prob if gen_pose_cond else None,
        "c_scale": 1.0,
        "superresolution_noise_mode": "none",
        "density_reg": 0.25,
        "density_reg_p_dist": 0.004,
        "reg_type": "l1",
        "decoder_lr_mul": 1.0,
        "sr_antialias": True,
    }
    if cfg in ("ffhq", "afhq"):
        options.update({"depth_resolution": 48, "depth_resolution_importance": 48, "ray_start": 2.25, "ray_end": 3.3, "box_warp": 1,
                        "avg_camera_radius": 2.7, "avg_camera_pivot": [0, 0, 0.2] if cfg == "ffhq" else [0, 0, -0.06]})
    else:
        options.update({"depth_resolution": 64, "depth_resolution_importance": 64, "ray_start": 0.1, "ray_end": 2.6, "box_warp": 1.6,
                        "white_back": True, "avg_camera_radius": 1.7, "avg_camera_pivot": [0, 0, 0]})
    return options


VARIANTS = {
    # name: (img_resolution, neural_rendering_resolution, rendering_options); docs/models.md gives the training commands
    "ffhq512-128": (512, 128, _rendering_options("ffhq", 512, "SuperresolutionHybrid8XDC")),
    "ffhq512-64": (512, 64, _rendering_options("ffhq", 512, "SuperresolutionHybrid8XDC")),
    "afhqcats512-128": (512, 128, _rendering_options("afhq", 512, "SuperresolutionHybrid8XDC", gpc_reg_prob=0.8)),
    "shapenetcars128-64": (128, 64, _rendering_options("shapenet", 128, "SuperresolutionHybrid2X", gen_pose_cond=False)),
    "ffhq256-128-4x": (256, 128, _rendering_options("ffhq", 256, "SuperresolutionHybrid4X")),  # what train.py picks for 256 data
    "ffhq512-8x": (512, 128, _rendering_options("ffhq", 512, "SuperresolutionHybrid8X")),  # --sr-module override
}

DENSITY_STD, DENSITY_MEDIAN = 8.0, 3.0
"""Raw sigma over the box at ``w = w_avg``: the decoder's sigma output is calibrated to this spread and median."""

CLAMP_PROBE_BIAS = 181.0
"""Bias of channel 0 of every super-resolution's last conv: lrelu gain sqrt(2) puts it at the 256 clamp (256/sqrt(2) = 181.02)."""


def _liven(G, seed):
    """Make every parameter and buffer matter while keeping activations O(1).

    Officially biases, noise strengths and ``w_avg`` start at zero (affine biases at one), which would
    hide mistakes in those paths; here they get small random values (effective values, i.e. after
    ``bias_gain``), and ``w_avg`` is what training tracks, the mean mapping output (front camera, 64
    random z), plus a little noise. Density: the decoder's hidden units come in +- pairs (rows 32..63
    of ``decoder.net.0`` negate rows 0..31, same biases) and its sigma output (row 0 of
    ``decoder.net.2``) sums them with positive weights, so sigma grows with the feature magnitude
    and is lowest for zero features, i.e. outside the box (no fog there). Its scale and offset are
    calibrated on a 16^3 grid in the box, pooled over ``w_avg`` and two random latents (const
    noise): spread :data:`DENSITY_STD`, median :data:`DENSITY_MEDIAN`, so the meshing level 10 is
    crossed and rays are neither empty nor opaque at the box's entry. The super-resolution's last
    conv gets one channel at :data:`CLAMP_PROBE_BIAS`, so ``conv_clamp`` clips about half its pixels;
    its ToRGB weights are shrunk 40x so the image stays O(1).

    The decoder's weights are redrawn from their own generator, so that everything but the
    super-resolution is the same whatever ``sr_width_scale`` is.
    """
    main, upsampler = torch.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 2)

    def liven_layers(root, rng):
        for module in root.modules():
            if isinstance(module, FullyConnectedLayer) and module.bias is not None:
                module.bias.add_(0.2 * torch.randn(module.out_features, generator=rng) / float(module.bias_gain))
            if isinstance(module, (SynthesisLayer, ToRGBLayer)):
                module.bias.copy_(0.2 * torch.randn(module.bias.shape[0], generator=rng))
            if isinstance(module, SynthesisLayer) and module.use_noise:
                module.noise_strength.fill_(0.05 + 0.25 * torch.rand([], generator=rng).item())

    with torch.no_grad():
        for layer in (G.decoder.net[0], G.decoder.net[2]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=main) / float(layer.bias_gain))  # bias_gain = lr_multiplier
        liven_layers(G.backbone, main)
        liven_layers(G.decoder, main)
        liven_layers(G.superresolution, upsampler)
        G.dataset_label_std.copy_(0.1 + torch.rand(G.c_dim, generator=main))
        probe = G.superresolution.block1
        probe.conv1.bias[0] = CLAMP_PROBE_BIAS
        probe.torgb.weight[:, 0] /= 40

        mapping = G.backbone.mapping
        c = front_camera(G)
        mapping.w_avg.copy_(G.mapping(torch.randn(64, G.z_dim, generator=main), c.repeat(64, 1))[:, 0].mean(0) + 0.1 * torch.randn(G.w_dim, generator=main))
        first, last = G.decoder.net[0], G.decoder.net[2]
        first.weight[32:], first.bias[32:] = -first.weight[:32], first.bias[:32]  # hidden units in +- pairs ...
        last.weight[0], last.bias[0] = last.weight[0].abs(), 0  # ... summed with positive weights: sigma grows with |features|
        half = G.rendering_kwargs["box_warp"] / 2
        axis = (torch.arange(16) + 0.5) / 16 * 2 * half - half
        grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
        ws = torch.cat([mapping.w_avg.reshape(1, 1, -1).repeat(1, mapping.num_ws, 1), G.mapping(torch.randn(2, G.z_dim, generator=main), c.repeat(2, 1))])
        planes = G.planes(ws, noise_mode="const")
        sigma = G.renderer.run_model(planes, G.decoder, grid.repeat(len(ws), 1, 1), torch.zeros_like(grid).repeat(len(ws), 1, 1), G.rendering_kwargs)
        sigma = sigma["sigma"]
        scale = DENSITY_STD / sigma.std().item()
        last.weight[0] *= scale
        last.bias[0] = (DENSITY_MEDIAN - scale * sigma.median().item()) / float(last.bias_gain)


# --------------------------------------------------------------------------------------------
# ``head=True``: a smooth, closed, head-like field instead of random froth

HEAD_SEMI_AXES = {"x": 0.19, "y": 0.24, "z": 0.22}
"""Semi-axes of the planted head (world units at ``box_warp`` 1): taller than wide, a little deeper than wide."""

HEAD_PEAK = 3.0
"""A shape profile's value at the centre: ``HEAD_PEAK - (t / s)^2``; the three sum to ``3 HEAD_PEAK - q``, q = 1 on the surface."""

HEAD_SHARPNESS = 40.0
"""Raw sigma per unit of ``1 - q``: sigma = 10 (the official meshing level) on the surface, 10 + 40 at the centre."""

EG3D_HEAD_SLOTS = {"x": (1, "u"), "y": (0, "v"), "z": (2, "u")}
"""Which plane carries each axis' profile: planes (x, y), (x, z), (z, x) as (u, v)."""

SKIN, HAIR = (0.87, 0.67, 0.55), (0.23, 0.15, 0.11)
"""The planted head's colours (linear 0..1)."""

HAIR_LINE, HAIR_TILT, HAIR_SOFTNESS = 0.07, 0.7, 0.03
"""Hair where ``y - HAIR_TILT * z > HAIR_LINE`` (top and back; the face looks toward +z), blended over ``HAIR_SOFTNESS``."""


def _head_basis(kind, direction, scale, box_warp):
    """One 8x8 basis image (zero on its border ring, so zero padding is what the image continues as).

    ``kind`` 'profile': ``max(HEAD_PEAK - (t / scale)^2, 0)``; 'plus'/'minus': ``max(+-t, 0)``; 'plateau': 1;
    t the world coordinate of the pixel centre along ``direction`` ('u' = columns, 'v' = rows).
    """
    t = (torch.arange(8, dtype=torch.float64) + 0.5) / 8 * box_warp - box_warp / 2
    ring = torch.ones(8, dtype=torch.float64)
    ring[0] = ring[-1] = 0
    if kind == "profile":
        line = (HEAD_PEAK - (t / scale) ** 2).clamp(min=0)
    elif kind == "plus":
        line = t.clamp(min=0)
    elif kind == "minus":
        line = (-t).clamp(min=0)
    else:
        line = torch.ones(8, dtype=torch.float64)
    line = line * ring
    return torch.outer(ring, line) if direction == "u" else torch.outer(line, ring)


def _ws_direction(G, rng, count=64):
    """A random unit direction of w and the mean and spread of the ws' projections on it (front camera)."""
    ws = G.mapping(torch.randn(count, G.z_dim, generator=rng), front_camera(G).repeat(count, 1))[:, 0]
    direction = torch.randn(G.w_dim, generator=rng)
    p = ws @ direction
    return direction, p.mean().item(), p.std().item()


def _plant_head(G, seed, slots, depth=1, colour_code=None):
    """Re-plant the backbone, the decoder and the super-resolution's ToRGBs so the field is a head.

    The backbone draws eight 8x8 basis images exactly (``_head_basis``: the three shape profiles, +-ramps
    along u and v, a plateau) in channels 0..7 of ``b8``'s features: the 4x4 constant holds one impulse
    per pixel (channel 4i+j at (i, j)), ``b4.conv1`` and ``b8.conv1`` are identities (centre taps; with
    uniform styles demodulation leaves them exact), ``b8.conv0``'s 3x3 kernels are the least-norm
    solution that stamps each basis image (all values >= 0, so every leaky ReLU stays linear; noise
    strengths and biases zero). ``b8.torgb`` mixes them into the planes' feature channels and every
    other ToRGB is zero, so the planes are the 8x8 images up-sampled five times by the [1,3,3,1] FIR
    (Chaikin's scheme: a smooth quadratic B-spline that reproduces quadratics).

    ``slots``: for each of 'x', 'y', 'z', the (plane, 'u' | 'v') that carries that axis (a plane image
    reads its (u, v) = (column, row) coordinates). Feature 0 is the shape: each plane carries one
    axis' profile, so the planes' sum is ``3 HEAD_PEAK - x^2/a^2 - y^2/b^2 - z^2/c^2`` near the head
    and falls to 0 at the box's walls and outside it (no fog). Feature 1 is ``y - HAIR_TILT z`` (hair),
    feature 2 a plateau of one (skin tone). ``b8.torgb``'s styles vary a little with w: the shape's
    scales by ~1 %, the hair ramps by ~5 %, the tone channel by ~10 %. With ``depth`` > 1 (PanoHead's
    tri-grid) every depth slice holds the same image.

    The decoder: hidden units 0/1 are ``softplus(+-t)``, t = mean-feature-0 * 3 - T (their difference is
    exactly t), so raw sigma = 10 + HEAD_SHARPNESS * t, T calibrated at ``w_avg`` so the surface crosses
    the y axis at its semi-axis; units 2/3 a smooth step of the hair ramp, 4/5 the tone's deviation.
    Outputs 1..32 are ``colour_code`` (EG3D: logits of the sigmoid; PanoHead: 2c - 1 through an
    identity ``torgb``) of skin blended to hair, the tone shifting the skin. The super-resolution's
    ToRGBs are shrunk 100x, so its image is the raw image up-sampled plus a little detail.
    """
    rng = torch.Generator().manual_seed(seed + 17)
    box = float(G.rendering_kwargs["box_warp"])
    synthesis = G.backbone.synthesis
    planes_channels = synthesis.img_channels // 3
    with torch.no_grad():
        for module in synthesis.modules():
            if isinstance(module, SynthesisLayer):
                if module.use_noise:
                    module.noise_strength.zero_()
                module.bias.zero_()
            if isinstance(module, (SynthesisLayer, ToRGBLayer)):
                module.affine.weight.zero_()
                module.affine.bias.fill_(1.0 / float(module.affine.bias_gain))
            if isinstance(module, ToRGBLayer):
                module.weight.zero_()
                module.bias.zero_()
        b4, b8 = synthesis.b4, synthesis.b8
        n4 = b4.const.shape[0]
        if n4 < 16 or b8.conv0.out_channels < 8:
            raise ValueError("head=True needs at least 16 channels at 4 px and 8 at 8 px")
        b4.const.zero_()
        for i in range(4):
            for j in range(4):
                b4.const[4 * i + j, i, j] = 1.0
        for layer, count in ((b4.conv1, 16), (b8.conv1, b8.conv1.out_channels)):
            layer.weight.zero_()
            for c in range(count):
                layer.weight[c, c, 1, 1] = 1.0

        shapes = [("profile", slots[a][1], HEAD_SEMI_AXES[a] * box) for a in ("x", "y", "z")]
        basis = shapes + [("plus", "u", 0), ("minus", "u", 0), ("plus", "v", 0), ("minus", "v", 0), ("plateau", "u", 0)]
        targets = torch.stack([_head_basis(kind, d, s, box) for kind, d, s in basis])  # [8, 8, 8]
        # b8.conv0 maps the impulses through its kernels linearly: J [64, n4*9] per output channel
        conv0 = b8.conv0
        impulses = b4.const[None].double() * math.sqrt(2)
        columns = []
        for c in range(n4):
            for r in range(3):
                for s in range(3):
                    kernel = torch.zeros(1, n4, 3, 3, dtype=torch.float64)
                    kernel[0, c, r, s] = 1
                    out = conv2d_resample(impulses, kernel, conv0.resample_filter.double(), up=2, padding=1, flip_weight=False)
                    columns.append(out.reshape(-1))
        jacobian = torch.stack(columns, 1)  # [64, n4*9]
        conv0.weight.zero_()
        solution = torch.linalg.pinv(jacobian) @ targets.reshape(len(basis), -1).T  # [n4*9, 8]
        assert (jacobian @ solution - targets.reshape(len(basis), -1).T).abs().max() < 1e-9
        for k in range(len(basis)):
            conv0.weight[k] = solution[:, k].reshape(n4, 3, 3).float()

        ws = G.backbone.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.backbone.mapping.num_ws, 1)
        x = img = None
        for res in (4, 8):  # the features b8.torgb reads, at w_avg (uniform styles: they do not depend on w)
            block = getattr(synthesis, f"b{res}")
            x, img = block(x, img, ws[:, :block.num_conv + block.num_torgb], noise_mode="const")
        gains = [(x[0, k].double() * targets[k]).sum().item() / targets[k].square().sum().item() for k in range(len(basis))]
        assert max((x[0, k].double() - gains[k] * targets[k]).abs().max().item() for k in range(len(basis))) < 1e-4

        torgb = b8.torgb
        # styles: 1 + spread * (standardised projection of w); the four ramp channels share one direction
        weight_gain = float(torgb.weight_gain)
        affine = torgb.affine
        shared = _ws_direction(G, rng)
        for k, kind in enumerate(basis):
            spread = 0.01 if kind[0] == "profile" else 0.05 if kind[0] in ("plus", "minus") else 0.1
            direction, mean, std = shared if kind[0] in ("plus", "minus") else _ws_direction(G, rng)
            affine.weight[k] = direction * spread / std / float(affine.weight_gain) / weight_gain
            affine.bias[k] = (1 - spread * mean / std) / weight_gain / float(affine.bias_gain)

        def put(plane, feature, k, coefficient):
            for d in range(depth):
                torgb.weight[plane * planes_channels + feature * depth + d, k, 0, 0] = coefficient / gains[k]

        for k, axis in enumerate(("x", "y", "z")):
            put(slots[axis][0], 0, k, 1.0)
        plus_u, minus_u, plus_v, minus_v = 3, 4, 5, 6
        for axis, factor in (("y", 1.0), ("z", -HAIR_TILT)):
            plane, direction = slots[axis]
            plus, minus = (plus_u, minus_u) if direction == "u" else (plus_v, minus_v)
            put(plane, 1, plus, factor)
            put(plane, 1, minus, -factor)
        put(slots["y"][0], 2, 7, 1.0)

        # the decoder
        first, last = G.decoder.net[0], G.decoder.net[2]
        for layer in (first, last):
            layer.weight.zero_()
            layer.bias.zero_()

        def set_row(layer, row, weights, bias):
            for column, value in weights.items():
                layer.weight[row, column] = value / float(layer.weight_gain)
            layer.bias[row] = bias / float(layer.bias_gain)

        probe = torch.tensor([[[0.0, HEAD_SEMI_AXES["y"] * box, 0.0]]])
        level = _mean_features(G, G.planes(ws, noise_mode="const"), probe)[0, 0, 0].item() * 3
        set_row(first, 0, {0: 3.0}, -level)
        set_row(first, 1, {0: -3.0}, level)
        sharp = 1 / HAIR_SOFTNESS
        set_row(first, 2, {1: 3.0 * sharp}, -HAIR_LINE * sharp)
        set_row(first, 3, {1: 3.0 * sharp}, -HAIR_LINE * sharp - 1.0)
        set_row(first, 4, {2: 3.0}, -1.0)
        set_row(first, 5, {2: -3.0}, 1.0)
        set_row(last, 0, {0: HEAD_SHARPNESS, 1: -HEAD_SHARPNESS}, 10.0)
        skin, hair = (colour_code(torch.tensor(c, dtype=torch.float64)) for c in (SKIN, HAIR))
        tone = colour_code(torch.tensor(SKIN, dtype=torch.float64) * 0.9) - skin  # a darker skin per unit of the tone's deviation / 0.1
        for row in range(1, last.out_features):
            c = (row - 1) % 3
            set_row(last, row, {2: float(hair[c] - skin[c]), 3: float(skin[c] - hair[c]), 4: float(tone[c]) * 5, 5: -float(tone[c]) * 5},
                    float(skin[c]))

        for module in G.superresolution.modules():
            if isinstance(module, ToRGBLayer):
                module.weight.mul_(0.01)
                module.bias.mul_(0.01)


def _mean_features(G, planes, points):
    """The decoder's input at ``points`` [1, M, 3]: the planes' features averaged, [1, M, 32]."""
    captured = {}

    class Spy(nn.Module):
        def forward(self, features, directions):
            captured["x"] = features.mean(1)
            return {"sigma": features[..., :1, :1].mean(1), "rgb": features.mean(1)}

    G.renderer.run_model(planes, Spy(), points, torch.zeros_like(points), G.rendering_kwargs)
    return captured["x"]


def make_generator(variant="ffhq512-128", *, seed=0, channel_base=4096, channel_max=16, z_dim=16, w_dim=512, canary=None, sr_width_scale=1.0,
                   head=False, **rendering_overrides):
    """A tiny ``G_ema`` of a released configuration, built as train.py + training_loop.py build it.

    The backbone is the real 256x256 StyleGAN2 layout (b4..b256, 96 channels, 14 ws, 2 mapping
    layers) at small widths; the super-resolution keeps its official widths and ``w_dim=512``
    (hard-coded there), so ``w_dim`` must stay 512. ``rendering_overrides`` update
    ``rendering_kwargs`` (before construction, so the constructor sees them too).
    The global torch RNG is left untouched. ``sr_width_scale`` (not official) multiplies the
    super-resolution's hard-coded widths (256/128/64): at 1, a 512px synthesis takes ~5 s on two
    cores, mostly in its 512x512 convolutions; 0.25 makes it ~10x cheaper. ``head=True`` (not official)
    re-plants the weights after :func:`_liven` so the field is a smooth, closed, head-like ellipsoid with
    skin and hair colours (:func:`_plant_head`); the default keeps the random weights.
    """
    if w_dim != 512:
        raise ValueError("the official super-resolution modules hard-code w_dim=512")
    img_resolution, neural_resolution, options = VARIANTS[variant]
    options = {**copy.deepcopy(options), **rendering_overrides}
    G_kwargs = EasyDict(z_dim=z_dim, w_dim=w_dim, mapping_kwargs=EasyDict(num_layers=2), channel_base=channel_base, channel_max=channel_max,
                        fused_modconv_default="inference_only", rendering_kwargs=options, num_fp16_res=0, sr_num_fp16_res=4,
                        sr_kwargs=EasyDict(channel_base=channel_base, channel_max=channel_max, fused_modconv_default="inference_only"),
                        conv_clamp=None)
    _SR_WIDTH_SCALE[0] = sr_width_scale
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            G = TriPlaneGenerator(**G_kwargs, c_dim=25, img_resolution=img_resolution, img_channels=3)
    finally:
        _SR_WIDTH_SCALE[0] = 1.0
    G.register_buffer("dataset_label_std", torch.zeros([25]))  # training_loop.py adds it to G before copying G_ema
    _liven(G, seed)
    if head:
        _plant_head(G, seed, EG3D_HEAD_SLOTS, colour_code=torch.logit)
    G.neural_rendering_resolution = neural_resolution  # the training loop copies G's final value to G_ema
    G.rendering_kwargs = G.rendering_kwargs.copy()
    G = copy.deepcopy(G).eval().requires_grad_(False)
    for module in G.modules():
        if isinstance(module, Persistent):
            module._canary = canary
    return G


def _canary_of(module):
    return next((m.__dict__.get("_canary") for m in module.modules() if isinstance(m, Persistent)), None)


def make_discriminator(G, *, seed=0, channel_base=4096, channel_max=16):
    """A small ``DualDiscriminator`` for ``G``'s resolution, sharing its canary."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        D = DualDiscriminator(c_dim=G.c_dim, img_resolution=G.img_resolution, img_channels=3, channel_base=channel_base, channel_max=channel_max,
                              num_fp16_res=4, conv_clamp=256, disc_c_noise=0.0, block_kwargs=EasyDict(freeze_layers=0), mapping_kwargs=EasyDict(),
                              epilogue_kwargs=EasyDict(mbstd_group_size=4))
    for module in D.modules():
        if isinstance(module, Persistent):
            module._canary = _canary_of(G)
    return D


def make_augment_pipe(G, p=0.2):
    """The ADA pipe train.py configures (``--aug=ada``), with probability ``p``, sharing ``G``'s canary."""
    pipe = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
    pipe.p.fill_(p)
    pipe._canary = _canary_of(G)
    return pipe


DROP = object()
"""Pass ``key=DROP`` to :func:`save_snapshot` to leave a key out of the snapshot."""

_DEFAULT = object()


def save_snapshot(path, G_ema, *, G=_DEFAULT, D=_DEFAULT, augment_pipe=None, **replace):
    """``pickle.dump`` of the snapshot dict, as training_loop.py writes it.

    ``G`` defaults to a copy of ``G_ema``, ``D`` to :func:`make_discriminator`; every module is
    deep-copied ``.eval().requires_grad_(False).cpu()``. Any key may be given another value (also
    ``training_set_kwargs``, ``G_ema=None``, extra keys) or :data:`DROP` to leave it out.
    """
    resolution = G_ema.img_resolution if isinstance(G_ema, nn.Module) else 512
    training_set_kwargs = EasyDict(class_name="training.dataset.ImageFolderDataset", path=f"/data/dataset_{resolution}.zip", use_labels=True,
                                   max_size=70000, xflip=False, resolution=resolution, random_seed=0)
    snapshot = dict(training_set_kwargs=dict(training_set_kwargs))  # the official code stores a plain dict copy
    G = G_ema if G is _DEFAULT else G
    if D is _DEFAULT:
        D = make_discriminator(G_ema) if isinstance(G_ema, nn.Module) else None
    for name, module in (("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", augment_pipe)):
        snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu() if isinstance(module, nn.Module) else module
    snapshot.update(replace)
    snapshot = {k: v for k, v in snapshot.items() if v is not DROP}
    with official_modules(), open(path, "wb") as handle:
        pickle.dump(snapshot, handle)
    return snapshot


# --------------------------------------------------------------------------------------------
# camera_utils.py

def lookat_cam2world(horizontal, vertical, pivot, radius):
    """``LookAtPoseSampler.sample`` with zero spread: [1, 4, 4] OpenCV cam2world (x right, y down, z forward).

    The camera sits at ``radius`` from the world origin (not from the pivot) at yaw ``horizontal`` and
    polar angle ``vertical`` (pi/2, pi/2 = on +z), and looks at ``pivot``. Computed in float32 as
    officially; unlike the official sampler this does not draw (and discard) two ``torch.randn``.
    """
    h = torch.full((1, 1), float(horizontal), dtype=torch.float32)
    v = torch.full((1, 1), float(vertical), dtype=torch.float32).clamp(1e-5, math.pi - 1e-5)
    phi = torch.arccos(1 - 2 * (v / math.pi))
    origin = torch.cat([radius * torch.sin(phi) * torch.cos(math.pi - h), radius * torch.cos(phi), radius * torch.sin(phi) * torch.sin(math.pi - h)], 1)
    target = torch.as_tensor(pivot, dtype=torch.float32).reshape(1, 3)

    def unit(vec):
        return vec / torch.norm(vec, dim=-1, keepdim=True)

    forward = unit(unit(target - origin))
    up = torch.tensor([[0.0, 1.0, 0.0]])
    right = -unit(torch.cross(up, forward, dim=-1))
    up = unit(torch.cross(forward, right, dim=-1))
    rotation = torch.eye(4).unsqueeze(0)
    rotation[:, :3, :3] = torch.stack((right, up, forward), dim=-1)
    translation = torch.eye(4).unsqueeze(0)
    translation[:, :3, 3] = origin
    return translation @ rotation


def fov_to_intrinsics(fov_degrees):
    """``FOV_to_intrinsics``: normalised intrinsics, principal point 0.5, with the official 3.14159 and 1.414."""
    focal = float(1 / (math.tan(fov_degrees * 3.14159 / 360) * 1.414))
    return torch.tensor([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]], dtype=torch.float32)


def conditioning(cam2world, intrinsics):
    """The 25-number label: flattened cam2world (16) then intrinsics (9)."""
    return torch.cat([cam2world.reshape(-1, 16), intrinsics.reshape(-1, 9)], 1)


def front_camera(G, yaw=0.0, pitch=0.0, fov_degrees=18.837):
    """The label gen_samples.py renders with: yaw/pitch offsets about pi/2 around the variant's pivot and radius."""
    options = G.rendering_kwargs
    pose = lookat_cam2world(math.pi / 2 + yaw, math.pi / 2 + pitch, options.get("avg_camera_pivot", [0, 0, 0]), options.get("avg_camera_radius", 2.7))
    return conditioning(pose, fov_to_intrinsics(fov_degrees))
