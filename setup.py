"""alphafold_jax: a JAX/Haiku functional reimplementation of AlphaFold2-family models."""

from setuptools import find_packages, setup

setup(
    name='alphafold_jax',
    version='0.1.0',
    description='JAX/Haiku reimplementation of AlphaFold2 with SE(3) diffusion',
    python_requires='>=3.10',
    packages=find_packages(include=['alphafold_jax', 'alphafold_jax.*',
                                    'data_pipeline', 'data_pipeline.*']),
    package_data={'alphafold_jax': ['common/stereo_chemical_props.txt',
                                    'weights/*.npz', 'weights/*.json',
                                    'geometry/CONVENTIONS.md']},
    install_requires=[
        'jax[cpu]==0.10.2',
        'jaxlib==0.10.2',
        'dm-haiku==0.0.17',
        'optax==0.2.8',
        'chex==0.1.92',
        'numpy>=2.0,<2.5',
        'biopython==1.88',
        'orbax-checkpoint==0.12.8',
        'tqdm>=4.66',
        'matplotlib>=3.8',
        'pyhmmer==0.12.3',  # data_pipeline/search: jackhmmer / hmmbuild / hmmsearch in process
        'kalign-python==3.6.0',  # data_pipeline/templates: realignment of template hits
        'grain==0.2.18',  # training/loader.py: featurisation in worker processes + prefetch
    ],
    extras_require={
        'test': [
            'pytest>=8',
            'pytest-xdist==3.8.0',
            'alphafold-colabfold==2.3.27',
            'colabfold-kernels==0.9.0',
        ],
        # Amber relax (alphafold_jax.relax, `predict --relax`): OpenMM + PDBFixer.
        'relax': [
            'openmm==8.6.1',
            'pdbfixer==1.12.0',
        ],
    },
    entry_points={'console_scripts': ['alphafold-jax=alphafold_jax.cli:main']},
)
